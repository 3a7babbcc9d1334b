"""Community clusters as data.

    menu (a guest) -> 1 create: name -> type -> area -> target -> who can join -> created
                   -> 2 join: code -> joined (or put to a vote)
    menu (a member) -> 1 contribute: amount -> PIN -> done
                    -> 2 members | 3 vote: open proposals -> one -> yes / no
                    -> 4 propose: kind -> (item -> supplier's number | member's number) -> amount -> confirm
                       (-> PIN, when it pays from the pool)
                    -> 5 invite: number | 6 leave: the rules, then confirm
"""
from __future__ import annotations

from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.clusters import rules, screens
from menus.common import four_digits, press

AMOUNT_HINT = lazy_gettext("Type an amount, like 25 or 25.50.")
NUMBER_HINT = lazy_gettext("Type a phone number, like 0971234567.")
TEXT_HINT = lazy_gettext("Type 2 to 40 letters.")
NEW = {"name": "Kabwata Solar Sisters Co", "kind": "neighbourhood", "area": "Kabwata Site and Service Area",
       "target": 99_999_99, "open": False}
PROPOSE = {"pkind": "equipment", "title": "2 batteries and a 5kW inverter", "payee": "+260961234567",
           "amount": 99_999_99}

FEATURE = Feature(
    name="clusters",
    title=lazy_gettext("Community cluster"),
    order=97,            # new features take the next number: what users know keeps its number
    entry="menu",
    states=(
        State("menu", screens.menu),
        State("cname", screens.cname, hint=TEXT_HINT),
        State("ckind", screens.ckind, hint=lazy_gettext("Type 1, 2, 3 or 4."), sample=dict(NEW)),
        State("carea", screens.carea, hint=TEXT_HINT, sample=dict(NEW)),
        State("ctarget", screens.ctarget, hint=AMOUNT_HINT, sample=dict(NEW)),
        State("copen", screens.copen, hint=lazy_gettext("Type 1 or 2."), sample=dict(NEW)),
        State("created", screens.created, redirects=("clusters_menu",), sample=dict(NEW)),
        State("jcode", screens.jcode, hint=lazy_gettext("Type the code, like K7Q2M.")),
        State("joined", screens.joined, redirects=("clusters_menu",), sample={"code": "ZZZZZZZZ"}),
        State("camount", screens.camount, hint=AMOUNT_HINT, redirects=("clusters_menu",)),
        State("cpin", screens.cpin, hint=lazy_gettext("Type your 4-digit PIN."), sample={"amount": 99_999_99},
              redirects=("clusters_menu",)),
        State("cdone", screens.cdone, redirects=("clusters_menu",), sample={"amount": 100}, sample_input="4826"),
        State("members", screens.members, redirects=("clusters_menu",)),
        State("proposals", screens.open_proposals, hint=lazy_gettext("Type the number of a proposal."),
              redirects=("clusters_menu",), resting=True),
        State("pvote", screens.pvote, hint=lazy_gettext("Type 1 for yes or 2 for no."),
              redirects=("clusters_proposals",), sample={"open_ids": [1], "proposal_id": 1}),
        State("voted", screens.voted, redirects=("clusters_proposals",),
              sample={"open_ids": [1], "proposal_id": 1, "choice": "yes"}),
        State("pkind", screens.pkind, hint=lazy_gettext("Type 1, 2, 3 or 4."), redirects=("clusters_menu",)),
        State("ptitle", screens.ptitle, hint=TEXT_HINT, sample={"pkind": "equipment"}),
        State("ppayee", screens.ppayee, hint=NUMBER_HINT, sample=dict(PROPOSE)),
        State("pamount", screens.pamount, hint=AMOUNT_HINT, sample=dict(PROPOSE), sample_input="0961234567"),
        State("pmember", screens.pmember, hint=NUMBER_HINT, sample={"pkind": "remove"}),
        State("pconfirm", screens.pconfirm, hint=lazy_gettext("Type 1 to propose it, or 0 to go back."),
              sample=dict(PROPOSE), sample_input="99999.99"),
        State("ppin", screens.ppin, hint=lazy_gettext("Type your 4-digit PIN."), sample=dict(PROPOSE)),
        State("popened", screens.popened, redirects=("clusters_menu",), sample=dict(PROPOSE), sample_input="4826"),
        State("invite", screens.invite, hint=NUMBER_HINT, redirects=("clusters_menu",)),
        State("invited", screens.invited, redirects=("clusters_menu",), sample={"to": "0971234567"},
              sample_input="0971234567"),
        State("leave", screens.leave, hint=lazy_gettext("Type 1 to leave, or 0 to go back."),
              redirects=("clusters_menu",)),
        State("left", screens.left, redirects=("clusters_menu",)),
    ),
    transitions=(
        Go("menu", "cname", rules.guest("1")),
        Go("menu", "jcode", rules.guest("2")),
        Go("menu", "camount", rules.member("1")),
        Go("menu", "members", rules.member("2")),
        Go("menu", "proposals", rules.member("3")),
        Go("menu", "pkind", rules.member("4")),
        Go("menu", "invite", rules.member("5")),
        Go("menu", "leave", rules.member("6")),
        Go("cname", "ckind", rules.is_text, then=rules.remember_name),
        Go("ckind", "carea", rules.picks_kind, then=rules.remember_kind),
        Go("carea", "ctarget", rules.is_text, then=rules.remember_area),
        Go("ctarget", "copen", rules.is_amount, then=rules.remember_target),
        Go("copen", "created", rules.picks_1_or_2, then=rules.remember_open),
        Go("jcode", "joined", rules.is_code, then=rules.remember_code),
        Go("camount", "cpin", rules.is_amount, then=rules.remember_amount),
        Go("cpin", "cdone", four_digits),
        Go("proposals", "pvote", rules.picks_proposal, then=rules.remember_proposal),
        Go("pvote", "voted", rules.picks_1_or_2, then=rules.remember_choice),
        Go("pkind", "ptitle", rules.picks_kind_of("equipment", "spend"), then=rules.remember_proposal_kind),
        Go("pkind", "pamount", rules.picks_kind_of("target"), then=rules.remember_proposal_kind),
        Go("pkind", "pmember", rules.picks_kind_of("remove"), then=rules.remember_proposal_kind),
        Go("ptitle", "ppayee", rules.is_text, then=rules.remember_title),
        Go("ppayee", "pamount", rules.looks_like_number, then=rules.remember_number),
        Go("pamount", "pconfirm", rules.is_amount, then=rules.remember_amount),
        Go("pmember", "pconfirm", rules.looks_like_number, then=rules.remember_number),
        Go("pconfirm", "ppin", rules.confirms_paying),
        Go("pconfirm", "popened", rules.confirms_other),
        Go("ppin", "popened", four_digits),
        Go("invite", "invited", rules.looks_like_number, then=rules.remember_number),
        Go("leave", "left", press("1")),
    ),
)
