"""`enerlectra menus lint` and `menus graph`: the tree's shape, the catalogs, and every screen's budget.

Lint renders every state with the real renderers on a throwaway SQLite database, in every
language, through the engine's own paths (redirects, rejects, pagination), and checks each page.
"""
from __future__ import annotations

import asyncio
import copy
import re
import tempfile
from importlib import resources
from pathlib import Path

import aiohttp
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from enerlectra import i18n
from enerlectra.checks import Problem
from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.migrate import upgrade_async
from enerlectra.domain import ledger, ledger_key, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.work import unit_of_work
from enerlectra.settings import Settings
from enerlectra.text.gsm7 import is_gsm7, non_gsm7, screen_units, segment
from enerlectra.ussd.budget import paginate
from enerlectra.ussd.types import Nav, Screen, Services, Session
from ussd_app import menu_tree
from ussd_app.engine import core
from ussd_app.engine.tree import MenuTree

SOURCE_PACKAGES = ("enerlectra", "payments", "sms", "menus", "ussd_app")
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "N_": None, "ngettext": (1, 2),
            "pgettext": ((1, "c"), 2), "pgettext_noop": ((1, "c"), 2)}
SAMPLE_USER, SAMPLE_NEWCOMER = "+260961234567", "+260971234567"     # an MTN user: every money screen
SAMPLE_SELLER = "+260961234568"
SAMPLE_NAME = "Mwansa Chilufya Bwal"          # NAME_MAX letters: the widest greeting
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


# -- shape ---------------------------------------------------------------------------------------

def check_graph(tree: MenuTree) -> list[Problem]:
    out: dict[str, set[str]] = {name: set() for name in tree.states}
    for source, dest, _label in tree.edges:
        out[source].add(dest)
    seen, todo = set(), [tree.start, tree.home]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(out[name])
    problems = [Problem(name, "unreachable from the start or home screen")
                for name in tree.states if name not in seen]
    return problems


def mermaid(tree: MenuTree) -> str:
    lines = ["flowchart TD"]
    for name in tree.states:
        lines.append(f"    {name}[\"{name}\"]")
    for source, dest, label in tree.edges:
        arrow = "-.->" if label == "redirect" else "-->"
        lines.append(f"    {source} {arrow}|{label}| {dest}")
    return "\n".join(lines)


# -- catalogs ------------------------------------------------------------------------------------

def source_msgids() -> dict[tuple[str, str | None], str]:
    """(msgid, msgctxt) -> where it is used, extracted from our source the way pybabel does (a plural
    message under its singular msgid)."""
    found: dict[tuple[str, str | None], str] = {}
    for package in SOURCE_PACKAGES:
        root = Path(str(resources.files(package)))
        for filename, lineno, message, _comments, context in extract_from_dir(root, keywords=KEYWORDS):
            if isinstance(message, tuple) and message and message[0]:
                message = message[0]
            if isinstance(message, str) and message:
                found.setdefault((message, context), f"{package}/{filename}:{lineno}")
    return found


def _forms(entry, msgid: str) -> list[tuple[str, str]]:
    """(translation, what its placeholders must match) for each form of an entry; a plural entry has
    one per plural form, each matched against the plural msgid."""
    if entry is None:
        return [("", msgid)]
    if isinstance(entry.id, (tuple, list)):
        strings = entry.string if isinstance(entry.string, (tuple, list)) else (entry.string,)
        return [(text, entry.id[1]) for text in strings] or [("", entry.id[1])]
    return [(entry.string, msgid)]


def check_catalogs() -> list[Problem]:
    problems: list[Problem] = []
    msgids = source_msgids()
    for code in i18n.LANGUAGES:
        po = resources.files("locales") / code / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as f:
            catalog = read_po(f)
        for (msgid, context), where in msgids.items():
            entry = catalog.get(msgid, context=context)
            for translated, source in _forms(entry, msgid):
                if not translated and code != "en":
                    problems.append(Problem(f"{code} {where}", f"no translation for {msgid!r}"))
                    continue
                text = translated or source
                if not is_gsm7(text):
                    problems.append(Problem(f"{code} {where}", f"not GSM-7 {non_gsm7(text)}: {text!r}"))
                if sorted(_PLACEHOLDER.findall(text)) != sorted(_PLACEHOLDER.findall(source)):
                    problems.append(Problem(f"{code} {where}", f"placeholders differ from {source!r}: {text!r}"))
            if entry is not None and entry.fuzzy:
                problems.append(Problem(f"{code} {where}", f"fuzzy (unused) translation of {msgid!r}"))
    return problems


# -- screens -------------------------------------------------------------------------------------

def check_pages(where: str, pages_text: list[str]) -> list[Problem]:
    problems = []
    for n, text in enumerate(pages_text, start=1):
        if not is_gsm7(text):
            problems.append(Problem(f"{where} page {n}", f"not GSM-7 {non_gsm7(text)}"))
        elif screen_units(text) > 160:
            problems.append(Problem(f"{where} page {n}", f"{screen_units(text)} > 160 septets: {text!r}"))
    return problems


def is_prompt(tree: MenuTree, state: str, screen: Screen) -> bool:
    """An input screen: the user types the answer (an amount, a PIN, a number, a name), no list to pick from."""
    return state in tree.reads_input and not screen.end and not screen.options


def check_input_screen(where: str, tree: MenuTree, state: str, screen: Screen, nav: Nav,
                       hint: str) -> list[Problem]:
    """An input screen fits one page, also with its hint on top after a wrong key: on a paginated screen 98
    pages until the last page is shown, so a long prompt would make an answer of 98 take extra keys."""
    if not is_prompt(tree, state, screen):
        return []
    for shown, header in (("", []), (" (after a wrong key)", [hint])):
        pages = _pages(screen, nav, header)
        if len(pages) > 1:
            return [Problem(where + shown, f"an input screen takes {len(pages)} pages; shorten it: {pages[0]!r}")]
    return []


def _pages(screen: Screen, nav: Nav, header: list[str]) -> list[str]:
    return [p.text for p in paginate(screen, nav, header)]


async def _render_all(tree: MenuTree, services: Services) -> list[Problem]:
    engine = core.Engine(tree, store=None, services=services, metrics=None)   # only _enter/_show used
    problems: list[Problem] = []
    newcomer_feature = tree.start.split("_")[0]
    user = await users.get_by_msisdn(services.db, SAMPLE_USER)
    for code in i18n.LANGUAGES:
        for name, spec in tree.states.items():
            where = f"{code} {name}"
            registered = not name.startswith(newcomer_feature + "_")
            session = Session(id="lint", msisdn=SAMPLE_USER if registered else SAMPLE_NEWCOMER,
                              country="ZM", state=name, lang=code,
                              user_id=user.id if registered else None,
                              name=SAMPLE_NAME if registered else None, data=copy.deepcopy(spec.sample))
            session.screen = Screen([]).to_json()      # what a Reject falls back to
            with i18n.language(code):
                try:
                    reply = await engine._enter(session, name, spec.sample_input, spec.sample_input,
                                                undo=(name, copy.deepcopy(spec.sample), []))
                except Exception as exc:  # lint reports a renderer that crashes on its sample
                    problems.append(Problem(where, f"raised {type(exc).__name__}: {exc}"))
                    continue
                shown = Screen.from_json(session.screen)
                nav = engine._nav(session)
                problems += check_pages(where + " (as shown)", [reply.text])
                problems += check_pages(where, _pages(shown, nav, []))
                problems += check_pages(where + " (after a wrong key)",
                                        _pages(shown, nav, [engine._hint(session)]))
                problems += check_input_screen(where, tree, session.state, shown, nav, engine._hint(session))
                if (not shown.end and nav is Nav.NONE
                        and not any(src == session.state for src, _d, _l in tree.edges)):
                    problems.append(Problem(where, f"dead end: {session.state} continues but leads nowhere"))
        with i18n.language(code):
            problems += check_pages(f"{code} resume", _pages(core._resume_screen(), Nav.NONE, []))
    return problems


async def _lint_screens(tree: MenuTree) -> list[Problem]:
    from payments import setup as payments_setup
    from payments.sandboxes.mtn import FakeMtn, running

    fake = FakeMtn()
    with tempfile.TemporaryDirectory(prefix="enerlectra-lint-") as tmp:
        async with running(fake) as mtn_url, aiohttp.ClientSession() as http:
            settings = Settings(home=Path(tmp), pin_kdf_cost=16, mtn_base_url=mtn_url, mtn_api_user=fake.api_user,
                                mtn_api_key=fake.api_key, mtn_subscription_key=fake.subscription_key)
            url = settings.effective_database_url
            await upgrade_async(url)
            engine = make_engine(url)
            outer_key = ledger.use_key(ledger_key.load(settings))     # a throwaway ledger, a throwaway key
            try:
                db = make_sessionmaker(engine)
                await users.register(db, parse_msisdn(SAMPLE_USER), SAMPLE_NAME, "en",
                                     hash_user_pin("4826", 16))
                await _sample_market(db, settings)
                await _sample_meters(db)
                payments = payments_setup.build(settings, db, http)
                # Real renderers, real SQL, the local MTN sandbox; SMS stay queued (no workers here).
                return await _render_all(tree, Services(db=db, settings=settings, payments=payments))
            finally:
                ledger.use_key(outer_key)
                await engine.dispose()


async def _sample_market(db, settings: Settings) -> None:
    """Balances and orders that make the market screens show their longest lines: the sample user is rich
    and has an offer (My offers); another user offers a little at the top price (a partial buy quote)."""
    from enerlectra.domain import ledger, wallet
    from enerlectra.domain.market import book, rules, texts

    user = await users.get_by_msisdn(db, SAMPLE_USER)
    seller = await users.register(db, parse_msisdn(SAMPLE_SELLER), SAMPLE_NAME, "en",
                                  hash_user_pin("4826", 16))
    for who, asset, amount in ((user, ledger.ENERGY, 999_900_000), (user, "ZMW", 99_999_999_99),
                               (seller, ledger.ENERGY, 100)):
        await wallet.credit(db, f"lint:{who.id}:{asset}", who, asset, amount, "lint sample")
    market_rules = rules.from_settings(settings)
    high = market_rules.price_range("ZMW")[1]
    async with unit_of_work(db) as s:        # no sink: the sample SMS stay queued
        for who, wh in ((user, 99_800_000), (seller, 100)):
            await book.place(s, f"lint:{who.id}", await s.merge(who), "sell", wh, high, market_rules,
                             texts.messages())
    await _sample_cluster(db, user, seller)


async def _sample_meters(db) -> None:
    """Two meters with the longest serials for the sample user (Settings, My meters), one with a credit today."""
    from datetime import timedelta

    from enerlectra.domain import meters, outbox

    user = await users.get_by_msisdn(db, SAMPLE_USER)
    now = outbox.now()
    async with unit_of_work(db) as s:        # no sink: the sample SMS stay queued
        for n in range(2):
            await meters.register(s, user, f"MTR-{n}" + "9" * 35, "LINTSECRET", 0, 0, now=now - timedelta(hours=1))
        reading = meters.Reading("MTR-0" + "9" * 35, 19_999, 0, now)
        await meters.record(s, reading, "LINTSECRET", meters.Limits(20_000, 50_000, 100_000, timedelta(hours=48)))


async def _sample_cluster(db, chair, member) -> None:
    """A cluster with the longest name, the sample user as chair and an open proposal #1 to vote on."""
    from enerlectra.domain.clusters import members, proposals

    async with unit_of_work(db) as s:        # no sink: the sample SMS stay queued
        chair, member = await s.merge(chair), await s.merge(member)
        cluster = await members.create(s, chair, "Kabwata Solar Sisters Cooperative Sociey", "neighbourhood",
                                       "Kabwata Site and Service", 99_999_99, True)
        await members.add_member(s, cluster, member)
        await members.contribute(s, "lint:contribution", chair, 99_999_99)
        await proposals.open_(s, cluster, chair, "equipment", title="2 batteries and a 5kW inverter from Lusaka",
                              amount=99_999_99, payee="+260961234567")


def check_sms_templates() -> list[Problem]:
    """Every SMS we send, in every language: GSM-7, and within its segment budget (2 unless stated)."""
    from ussd_app.lint_samples import TEMPLATES

    problems = []
    for code in i18n.LANGUAGES:
        with i18n.language(code):
            for template in TEMPLATES:
                text = template.render()
                seg = segment(text)
                where = f"{code} sms {template.name}"
                if not is_gsm7(text):
                    problems.append(Problem(where, f"not GSM-7 {non_gsm7(text)}"))
                if seg.count > template.max_segments:
                    problems.append(Problem(where, f"{seg.count} segments > {template.max_segments}: {text!r}"))
    return problems


def check_keyword_aliases() -> list[Problem]:
    from sms.commands import aliases

    try:
        aliases.cache_clear()
        aliases()
    except ValueError as exc:
        return [Problem("sms keywords", str(exc))]
    return []


def lint(tree: MenuTree | None = None) -> list[Problem]:
    tree = tree or menu_tree.TREE
    i18n.load_all()
    return (check_graph(tree) + check_catalogs() + check_sms_templates() + check_keyword_aliases()
            + asyncio.run(_lint_screens(tree)))
