"""Community cluster screens: checks that need SQL happen here; the domain does the rest."""
from __future__ import annotations

from enerlectra.db.models import Proposal, User
from enerlectra.domain import ledger, pin_resets, users
from enerlectra.domain.clusters import joining
from enerlectra.domain.clusters import members as clubs
from enerlectra.domain.clusters import proposals, texts
from enerlectra.domain.clusters.members import ClusterError
from enerlectra.domain.money import format_money
from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Reject, Rendered, Screen
from menus.common import money_locked, money_pin
from payments import routing
from payments.providers.base import PAYOUT

MEMBERS_PAGE = 5


def _not_member() -> Redirect:
    """Back to the cluster menu (the membership ended meanwhile: left, removed), saying so."""
    return Redirect("clusters_menu", flash=texts.refusal("not_member"))


async def _mine(ctx: Ctx):
    """(cluster, membership) of the user, or None."""
    async with ctx.services.db_read() as s:
        return await clubs.membership_of(s, ctx.session.user_id)


async def menu(ctx: Ctx) -> Rendered:
    found = await _mine(ctx)
    ctx.session.data["member"] = found is not None
    if found is None:
        return Screen([_("Community energy clusters: share solar and pool money with neighbours.")],
                      [("1", _("Create a cluster")), ("2", _("Join with a code"))])
    cluster, membership = found
    async with ctx.services.db_read() as s:
        pool = await clubs.pool_balance(s, cluster)
        count = await clubs.count_members(s, cluster.id)
    return Screen([texts.summary(cluster, pool, count, membership.contributed)],
                  [("1", _("Contribute")), ("2", _("Members")), ("3", _("Vote")), ("4", _("Propose")),
                   ("5", _("Invite")), ("6", _("Leave"))])


# -- create and join -----------------------------------------------------------------------------

async def cname(ctx: Ctx) -> Rendered:
    return Screen([_("Name of the new cluster?")])


async def ckind(ctx: Ctx) -> Rendered:
    return Screen([_("What kind of cluster is {name}?").format(name=ctx.session.data["name"])],
                  [(str(i), str(label)) for i, label in enumerate(texts.KINDS.values(), start=1)])


async def carea(ctx: Ctx) -> Rendered:
    return Screen([_("Village or area?")])


async def ctarget(ctx: Ctx) -> Rendered:
    return Screen([_("Contribution target per member, in {currency}?").format(currency=ctx.session.currency)])


async def copen(ctx: Ctx) -> Rendered:
    return Screen([_("Who can join?")], [("1", _("Anyone with the code")), ("2", _("Members vote on each"))])


async def created(ctx: Ctx) -> Rendered:
    d = ctx.session.data
    if ctx.text is None:
        return Redirect("clusters_menu")
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, ctx.session.user_id)
            cluster = await clubs.create(s, me, d["name"], d["kind"], d["area"], d["target"], d["open"])
    except ClusterError as exc:
        return Screen([texts.refusal(exc.reason)], end=True)
    ctx.session.data = {}
    return Screen([_("Cluster {name} is created. Its code is {code}: share it, or invite members from the cluster "
                     "menu.").format(name=cluster.name, code=cluster.code)], end=True)


async def jcode(ctx: Ctx) -> Rendered:
    return Screen([_("Type the cluster's code:")])


async def joined(ctx: Ctx) -> Rendered:
    code = ctx.session.data.get("code", "")
    if ctx.text is None:
        return Redirect("clusters_menu")
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, ctx.session.user_id)
            result = await joining.join(s, me, code)
    except ClusterError as exc:
        return Reject(texts.refusal(exc.reason, code))
    ctx.session.data = {}
    if result.proposal_number is None:
        return Screen([_("Welcome to {name}!").format(name=result.cluster.name)], end=True)
    return Screen([texts.put_to_vote(result.cluster, result.proposal_number)], end=True)


# -- contribute, members -------------------------------------------------------------------------

async def camount(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    return Screen([_("Give how much to the pool of {name}?").format(name=found[0].name)])


async def cpin(ctx: Ctx) -> Rendered:
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    return Screen([_("Give {amount} to the pool of {name}? Enter your PIN:").format(
        amount=format_money(ctx.session.data["amount"], ctx.session.currency), name=found[0].name)])


async def cdone(ctx: Ctx) -> Rendered:
    session = ctx.session
    if ctx.text is None:
        return Redirect("clusters_menu")
    refused = await money_pin(ctx, step="contribute")
    if refused is not None:
        return refused
    amount = session.data["amount"]
    key = f"{ctx.hop_key}:contribute"
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, session.user_id)
            given = await clubs.contribute(s, key, me, amount)
    except ledger.InsufficientFunds:
        return Screen([_("Not enough money in your wallet. Nothing was given.")], end=True)
    except ClusterError as exc:
        return Screen([texts.refusal(exc.reason)], end=True)
    session.data = {}
    cluster = given.cluster
    return Screen([_("Thank you. You gave {amount}; {total} in all. The pool has {pool}.").format(
        amount=format_money(amount, cluster.currency), total=format_money(given.total, cluster.currency),
        pool=format_money(given.pool, cluster.currency))], end=True)


async def members(ctx: Ctx) -> Rendered:
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    cluster = found[0]
    async with ctx.services.db_read() as s:
        rows = await clubs.active_members(s, cluster.id)
    lines = [f"{user.name} {format_money(m.contributed, cluster.currency)}" + (" *" if m.role == "chair" else "")
             for m, user in rows]
    return Screen([_("Members (* chair), given:")] + lines, page_size=MEMBERS_PAGE)


# -- vote ----------------------------------------------------------------------------------------

async def open_proposals(ctx: Ctx) -> Rendered:
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    cluster = found[0]
    async with ctx.services.db_read() as s:
        open_ = await proposals.open_list(s, cluster.id)
        names = {p.id: await proposals.subject_name(s, p) for p in open_}
    ctx.session.data["open_ids"] = [p.id for p in open_]
    if not open_:
        return Screen([_("No proposals are open now.")])
    return Screen([_("Open proposals:")],
                  [(str(i), texts.what(p, cluster.currency, names[p.id])) for i, p in enumerate(open_, start=1)])


async def pvote(ctx: Ctx) -> Rendered:
    found = await _mine(ctx)
    async with ctx.services.db_read() as s:
        proposal = await s.get(Proposal, ctx.session.data.get("proposal_id", 0))
        if proposal is None or found is None or proposal.cluster_id != found[0].id:
            return Redirect("clusters_proposals", flash=_("Voting on that proposal has closed."))
        yes, no = await proposals.counts(s, proposal.id)
        name = await proposals.subject_name(s, proposal)
    return Screen([_("{what}. Now {yes} yes, {no} no; closes by {deadline}.").format(
        what=texts.what(proposal, ctx.session.currency, name, payee=True), yes=yes, no=no,
        deadline=texts.when(proposal.deadline, ctx.session.country))], [("1", _("Yes")), ("2", _("No"))])


async def voted(ctx: Ctx) -> Rendered:
    if ctx.text is None:
        return Redirect("clusters_proposals")
    async with unit_of_work(ctx.services.db) as s:
        me = await s.get(User, ctx.session.user_id)
        result = await proposals.vote(s, me, ctx.session.data["proposal_id"], ctx.session.data["choice"])
    flash = {"recorded": _("Your vote is counted."), "changed": _("Your vote is changed."),
             "same": _("Your vote is counted."), "closed": _("Voting on that proposal has closed."),
             "not_eligible": _("Only members when it opened vote on that proposal.")}.get(result.status, "")
    if result.status == "held":
        flash = pin_resets.held_text(result.held_until, ctx.session.country)
    if result.decided or (result.status == "closed" and texts.outcome(result.proposal)):
        flash = f"{flash} {texts.decided(result.proposal)}"      # the rule: a deciding vote hears the result
    return Redirect("clusters_proposals", flash=flash)


# -- propose -------------------------------------------------------------------------------------

async def pkind(ctx: Ctx) -> Rendered:
    if await _mine(ctx) is None:
        return _not_member()
    return Screen([_("Propose:")], [("1", _("Buy equipment")), ("2", _("Pay for maintenance")),
                                    ("3", _("Change the target")), ("4", _("Remove a member"))])


async def ptitle(ctx: Ctx) -> Rendered:
    if ctx.session.data["pkind"] == "equipment":
        return Screen([_("What to buy? Like: 2 batteries")])
    return Screen([_("What maintenance? Like: panel repair")])


async def ppayee(ctx: Ctx) -> Rendered:
    return Screen([_("The supplier's mobile money number?")])


async def pamount(ctx: Ctx) -> Rendered:
    d = ctx.session.data
    if d["pkind"] == "target":
        return Screen([_("New target per member, in {currency}?").format(currency=ctx.session.currency)])
    if ctx.text is not None:
        try:
            number = parse_msisdn(d.get("to", ""), ctx.session.country)
        except (InvalidMsisdn, UnsupportedCountry):
            return Reject(_("That is not a phone number. Type it like 0971234567."))
        payments = ctx.services.payments
        if payments is None or payments.provider_for(number.e164, PAYOUT, ctx.session.currency) is None:
            return Reject(_("We cannot pay that network by mobile money yet. Type another number."))
        d["payee"] = number.e164
    return Screen([_("How much, in {currency}?").format(currency=ctx.session.currency)])


async def pmember(ctx: Ctx) -> Rendered:
    return Screen([_("Phone number of the member to remove?")])


async def _draft(ctx: Ctx) -> str | Reject | Redirect:
    """What the proposal would do, in words (checked against the cluster), or why it cannot be made."""
    d, session = ctx.session.data, ctx.session
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    cluster = found[0]
    if d["pkind"] == "remove":
        try:
            number = parse_msisdn(d.get("to", ""), session.country)
        except (InvalidMsisdn, UnsupportedCountry):
            return Reject(_("That is not a phone number. Type it like 0971234567."))
        async with ctx.services.db_read() as s:
            rows = await clubs.active_members(s, cluster.id)
        subject = next((u for _m, u in rows if u.msisdn == number.e164), None)
        if subject is None or subject.id == session.user_id:
            return Reject(_("{number} is not another member of {name}.").format(number=d["to"], name=cluster.name))
        d["subject_id"] = subject.id
        return texts.describe("remove", None, None, cluster.currency, subject.name)
    if d["pkind"] in proposals.PAYS:
        async with ctx.services.db_read() as s:
            pool = await clubs.pool_balance(s, cluster)
        if d["amount"] > pool:
            return Reject(_("The pool has only {pool}. Type a smaller amount.").format(
                pool=format_money(pool, cluster.currency)))
        if not routing.payable(d["amount"], cluster.currency):
            return Reject(_("Type whole shillings, without cents."))
    return texts.describe(d["pkind"], d.get("title"), d.get("amount"), cluster.currency, payee=d.get("payee"))


async def pconfirm(ctx: Ctx) -> Rendered:
    drafted = await _draft(ctx)
    if not isinstance(drafted, str):
        return drafted
    return Screen([_("Propose: {what}? Members vote for 72 hours.").format(what=drafted)],
                  [("1", _("Yes, propose it"))])


async def ppin(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    return locked or Screen([_("Type your 4-digit PIN.")])


async def popened(ctx: Ctx) -> Rendered:
    d = ctx.session.data
    if ctx.text is None:
        return Redirect("clusters_menu")
    if d["pkind"] in proposals.PAYS:          # paying from the pool is a money action: the PIN, and its lock
        refused = await money_pin(ctx, step="propose")
        if refused is not None:
            return refused
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    async with unit_of_work(ctx.services.db) as s:
        me = await s.get(User, ctx.session.user_id)
        subject = await s.get(User, d["subject_id"]) if d.get("subject_id") else None
        opened = await proposals.open_(s, found[0], me, d["pkind"], title=d.get("title") or d["pkind"],
                                       amount=d.get("amount"), payee=d.get("payee"), subject=subject,
                                       key=f"{ctx.hop_key}:propose")
    ctx.session.data = {}
    return Screen([_("Proposal #{n} is open. Every member got a ballot by SMS.").format(n=opened.proposal.number)],
                  end=True)


# -- invite, leave -------------------------------------------------------------------------------

async def invite(ctx: Ctx) -> Rendered:
    if await _mine(ctx) is None:
        return _not_member()
    return Screen([_("Phone number to invite?")])


async def invited(ctx: Ctx) -> Rendered:
    d = ctx.session.data
    try:
        number = parse_msisdn(d.get("to", ""), ctx.session.country)
    except (InvalidMsisdn, UnsupportedCountry):
        return Reject(_("That is not a phone number. Type it like 0971234567."))
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    async with unit_of_work(ctx.services.db) as s:
        me = await s.get(User, ctx.session.user_id)
        invitee = await users.by_msisdn(s, number.e164)
        await clubs.invite(s, found[0], me, number, invitee, key=f"{ctx.hop_key}:invite")
    return Redirect("clusters_menu", flash=_("Invitation sent to {number}.").format(number=d["to"]))


async def leave(ctx: Ctx) -> Rendered:
    found = await _mine(ctx)
    if found is None:
        return _not_member()
    return Screen([_("What you gave stays in the pool of {name}. Leave it?").format(name=found[0].name)],
                  [("1", _("Yes, leave"))])


async def left(ctx: Ctx) -> Rendered:
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, ctx.session.user_id)
            cluster = await clubs.leave(s, me)
    except ClusterError as exc:
        return Screen([texts.refusal(exc.reason)], end=True)
    ctx.session.data = {}
    return Screen([_("You left {name}.").format(name=cluster.name)], end=True)
