"""Input screens and 98 More: paging keys win on a paginated screen until its last page is shown (the pages
as shown, a hint or flash on top included); on the last page, or on a screen of one page, 98 is an answer.

A small test feature makes prompts of each shape in every language; a table over the installed input
screens in every language checks that 98 typed there is read as the answer. Real Redis and SQL.
"""
from __future__ import annotations

import copy

import pytest

from enerlectra import i18n
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.i18n import _, lazy_gettext
from enerlectra.ussd.budget import paginate
from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Ctx, Nav, Reject, Screen, Session, UssdRequest
from menus import main, onboarding
from tests.helpers import assert_screen_ok, new_session_id
from ussd_app import appkeys, lint, menu_tree
from ussd_app.engine.core import Engine
from ussd_app.engine.tree import MenuTree

LANGS = list(i18n.LANGUAGES)
AMOUNT_HINT = lazy_gettext("Type an amount, like 25 or 25.50.")
TAIL = "THE-END-OF-THE-PROMPT"


def _prompt(words: int) -> str:
    return " ".join(f"w{n}" for n in range(words)) + " " + TAIL


def _longest_prompt(fits) -> str:
    """The longest prompt of this shape that still fits one page as `fits` pages it."""
    words = 1
    while fits(_prompt(words + 1)):
        words += 1
    return _prompt(words)


def _one_page(body: str, header: list[str]) -> bool:
    return len(paginate(Screen([body]), Nav.FULL, header)) == 1


async def short_prompt(ctx: Ctx) -> Screen:
    return Screen(["Amount? " + TAIL])


async def long_prompt(ctx: Ctx) -> Screen:
    return Screen([_prompt(60)])                         # three pages or more in every language


async def edge_prompt(ctx: Ctx) -> Screen:
    """One page alone; two once the hint after a wrong key sits on top (in the language shown)."""
    return Screen([_longest_prompt(lambda body: _one_page(body, []))])


async def picky_prompt(ctx: Ctx) -> Screen:
    """Like edge_prompt, but the renderer of the next step refuses amounts over 500 with a long line."""
    return Screen([_longest_prompt(lambda body: _one_page(body, []))])


async def got(ctx: Ctx) -> Screen | Reject:
    if ctx.session.state == "demo_pickygot" and int(ctx.text) > 500:
        return Reject(_("The most at once is {limit}. Type a smaller amount.").format(limit="K500.00"))
    return Screen([f"You typed {ctx.text}."], end=True)


def _digits(session, text: str) -> bool:
    return text.strip().isdigit()


async def demo_menu(ctx: Ctx) -> Screen:
    return Screen(["Prompts:"], [("1", "short"), ("2", "long"), ("3", "edge"), ("4", "picky")])


DEMO = Feature(
    name="demo", entry="menu", title=lazy_gettext("Settings"), order=1,
    states=(State("menu", demo_menu),
            State("short", short_prompt, hint=AMOUNT_HINT), State("long", long_prompt, hint=AMOUNT_HINT),
            State("edge", edge_prompt, hint=AMOUNT_HINT), State("picky", picky_prompt, hint=AMOUNT_HINT),
            State("got", got), State("pickygot", got)),
    transitions=(Go("menu", "short", lambda s, t: t == "1"), Go("menu", "long", lambda s, t: t == "2"),
                 Go("menu", "edge", lambda s, t: t == "3"), Go("menu", "picky", lambda s, t: t == "4"),
                 Go("short", "got", _digits), Go("long", "got", _digits), Go("edge", "got", _digits),
                 Go("picky", "pickygot", _digits)),
)


@pytest.fixture
async def demo(client):
    real = client.app[appkeys.ENGINE]
    features = [onboarding.FEATURE, DEMO]
    tree = MenuTree(features + [main.build(features)], home="main_menu", start="onboarding_language")
    return Engine(tree, real.store, real.services, real.metrics)


class Phone:
    def __init__(self, engine, msisdn):
        self.engine, self.msisdn, self.sid, self.inputs = engine, msisdn, new_session_id(), []

    async def press(self, key):
        self.inputs.append(key)
        reply = await self.engine.handle(UssdRequest(self.sid, self.msisdn, "ZM", "*".join(self.inputs)))
        assert_screen_ok(reply.wire)
        return reply


async def _phone(engine, lang: str) -> Phone:
    msisdn = "+260971500001"
    await users.register(engine.services.db, parse_msisdn(msisdn), "Lubuto", lang, hash_user_pin("4826", 16))
    phone = Phone(engine, msisdn)
    await phone.engine.handle(UssdRequest(phone.sid, msisdn, "ZM", ""))
    await phone.press("1")                               # main menu item 1: the demo prompts
    return phone


# (prompt, keys typed after it, what the last reply shows)
# "answer N": 98 or 25 was read as the answer; "page": another page of the same prompt; "hint": refused.
ROWS = [
    ("1", ["98"], "answer 98"),                          # one page: 98 is an answer
    ("2", ["98"], "page"),                               # a long prompt: 98 pages ...
    ("2", ["98", "98", "98", "98", "98", "98"], "answer 98"),   # ... and once the last page is shown, answers
    ("2", ["25"], "answer 25"),                          # an answer is read on any page
    ("3", ["98"], "answer 98"),                          # one page alone: 98 is an answer
    ("3", ["x"], "hint+more"),                           # a wrong key: the hint on top pushes the prompt onto 2 pages
    ("3", ["x", "98"], "page"),                          # 98 pages to the rest of the prompt (was read as the answer)
    ("3", ["x", "98", "98"], "answer 98"),               # on the last page 98 is the answer
    ("3", ["x", "98", "0"], "hint+more"),                # 0 goes back a page; the hint stays on top
    ("3", ["x", "98", "0", "25"], "answer 25"),
    ("4", ["501"], "hint+more"),                         # the next step refused it: its line pushes the prompt on
    ("4", ["501", "98"], "page"),
    ("4", ["501", "98", "98", "98", "98"], "answer 98"),  # the last page shown: 98 is the answer
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("prompt,keys,expected", ROWS)
async def test_paging_keys_win_until_the_last_page_then_input_is_read(demo, lang, prompt, keys, expected):
    phone = await _phone(demo, lang)
    first = await phone.press(prompt)
    for key in keys:
        reply = await phone.press(key)
    stored = await demo.store.load_session(phone.sid)
    if expected.startswith("answer"):
        assert reply.end and reply.text == f"You typed {expected.split()[1]}.", reply.text
        return
    with i18n.language(lang):
        more, hint = f"98 {_('More')}", str(AMOUNT_HINT)
    if expected == "page":
        assert stored.page > 0 and TAIL in reply.text + (await _rest(phone, reply, more))
        assert reply.text != first.text
        return
    assert stored.page == 0 and stored.header, "a hint on top"
    assert (more in reply.text) == (expected == "hint+more"), reply.text
    if expected == "hint+more" and prompt == "3":
        assert reply.text.startswith(hint + "\n")


async def _rest(phone: Phone, reply, more: str) -> str:
    """The text of the pages after this one (98 until the last), to see the prompt's end is reachable."""
    seen = ""
    while more in reply.text:
        reply = await phone.press("98")
        seen += reply.text
    return seen


# -- the installed input screens, in every language ----------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_98_typed_on_an_installed_input_screen_is_read_as_the_answer(engine, lang):
    """Every input screen fits one page (lint checks it): 98 there goes to the screen's own rules."""
    msisdn, newcomer = "+260971600001", "+260971600002"
    await users.register(engine.services.db, parse_msisdn(msisdn), "Bupe", lang, hash_user_pin("4826", 16))
    user = await users.get_by_msisdn(engine.services.db, msisdn)
    checked, eaten = [], []
    for state in (name for name in menu_tree.TREE.states if name in menu_tree.TREE.reads_input):
        spec, registered = menu_tree.TREE.states[state], not state.startswith("onboarding_")
        sid = new_session_id()
        session = Session(id=sid, msisdn=msisdn if registered else newcomer, country="ZM", state=state,
                          lang=lang, user_id=user.id if registered else None, name="Bupe" if registered else None,
                          data=copy.deepcopy(spec.sample), path="start", history=["main_menu"])
        session.screen = {"body": ["(previous screen)"], "options": [], "end": False}
        shown = await engine._enter(session, state, spec.sample_input, "start",
                                    undo=(state, copy.deepcopy(spec.sample), list(session.history)))
        if shown.end or not lint.is_prompt(menu_tree.TREE, session.state, Screen.from_json(session.screen)):
            continue                    # a menu or a list with this sample: 98 there is a paging key only
        at = session.state
        loaded = await engine.store.acquire(sid, "start")
        await engine.store.save(session, "start", shown, loaded.token, resumable=True)
        reply = await engine.handle(UssdRequest(sid, session.msisdn, "ZM", "start*98"))
        assert_screen_ok(reply.wire)
        after = await engine.store.load_session(sid)
        checked.append(at)
        if not (reply.end or after.state != at or after.header) or (after is not None and after.page):
            eaten.append((at, reply.text))       # neither moved on nor refused with a line: paged
    assert len(checked) >= 25, checked
    assert eaten == []
