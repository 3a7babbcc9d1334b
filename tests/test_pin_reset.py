"""A forgotten PIN, end to end through the real hop, the real CLI and real SQL: the user asks (Settings >
Forgot PIN), support issues a one-time reset (`enerlectra pin reset`), the next dial sets a new PIN, money
actions are held for PIN_RESET_HOLD_HOURS (USSD and `YES <PIN>` by SMS) and allowed after, on the app clock
(`outbox.now`). Repeats change nothing twice; refusals are one line; a PIN change sends a receipt."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from enerlectra.db.models import JournalEntry, PinReset, SmsOutbox, User
from enerlectra.domain import ledger, outbox, pin_resets, wallet
from enerlectra.domain.phone import parse_msisdn
from sms.inbound import InboundSms, receive
from tests.test_wallet import Phone, register
from ussd_app import appkeys

OWNER, OTHER = "+260971800001", "+260961800002"
FORGOT, SEND_MONEY = ("3", "5", "1"), ("1", "2")     # main menu: 1 Wallet, 2 Money, 3 Settings


def shift_clock(monkeypatch, **delta) -> None:
    """Move the app clock (outbox.now, which pins, resets and outbox read) forward."""
    monkeypatch.setattr(outbox, "now", lambda: datetime.now(timezone.utc) + timedelta(**delta))


def cli(client, *args: str) -> subprocess.CompletedProcess:
    """`enerlectra ...` as support runs it, on the app's database and home (its ledger key)."""
    settings = client.app[appkeys.SETTINGS]
    env = {**os.environ, "DATABASE_URL": settings.effective_database_url, "ENERLECTRA_HOME": str(settings.home),
           "ENERLECTRA_DB_SCHEMA": settings.database_schema or ""}
    return subprocess.run([sys.executable, "-m", "ussd_app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


async def sms_to(client, msisdn: str) -> list[tuple[str, str]]:
    async with client.app[appkeys.DB]() as s:
        rows = await s.execute(select(SmsOutbox.kind, SmsOutbox.body).where(SmsOutbox.msisdn == msisdn)
                               .order_by(SmsOutbox.id))
    return [tuple(r) for r in rows.all()]


async def kinds(client, msisdn: str) -> list[str]:
    return [kind for kind, _body in await sms_to(client, msisdn)]


async def resets(client) -> list[tuple[str, bool]]:
    async with client.app[appkeys.DB]() as s:
        return [tuple(r) for r in (await s.execute(select(PinReset.state, PinReset.forced)
                                                   .order_by(PinReset.id))).all()]


async def fund(client, msisdn: str) -> None:
    user = await wallet.find_user(client.app[appkeys.DB], msisdn)
    await wallet.credit(client.app[appkeys.DB], f"test:{uuid.uuid4().hex}", user, user.currency, 10_000, "test")


async def ask(phone: Phone) -> str:
    await phone.dial()
    return await phone.press(*FORGOT)


# -- the journey, in every language ------------------------------------------------------------------

@dataclass(frozen=True)
class Language:
    key: str                      # at onboarding
    asked: str                    # the END after asking
    choose: str                   # the first screen of the next dial
    held: str                     # a money action during the hold
    sms_done: str                 # the owner's SMS once the new PIN is set


LANGUAGES = [
    Language("1", "Support will call you on +260971800001", "Support reset your PIN. Choose a new 4-digit PIN.",
             "Your PIN was reset. To keep your money safe, money actions wait until",
             "Enerlectra: your new PIN is set."),
    Language("2", "Abakwafwa bakamwita pa +260971800001", "Abakwafwa baaluka PIN yenu.", "PIN yenu yaalulwa.",
             "Enerlectra: PIN yenu ipya yabikwa."),
    Language("3", "Othandiza adzakuimbirani pa +260971800001", "Othandiza asintha PIN yanu.",
             "PIN yanu inasinthidwa.", "Enerlectra: PIN yanu yatsopano yaikidwa."),
    Language("4", "Huduma kwa wateja watakupigia kwa +260971800001", "Chagua PIN mpya ya tarakimu 4.",
             "PIN yako iliwekwa upya.", "Enerlectra: PIN yako mpya imewekwa."),
]


@pytest.mark.parametrize("lang", LANGUAGES, ids=["en", "bem", "nya", "sw"])
async def test_forgotten_pin_asked_reset_chosen_held_then_allowed(client, monkeypatch, lang):
    await register(client, OTHER, "Chipo")
    owner = Phone(client, OWNER)
    await owner.dial()
    await owner.press(lang.key, "Mwansa", "4826", "4826")
    await fund(client, OWNER)

    asked = await ask(owner)                                       # Settings > Forgot PIN > Ask
    assert asked.startswith("END ") and lang.asked in asked, asked
    assert lang.asked in await ask(owner)                          # asking again: the same request, one SMS
    assert await resets(client) == [("requested", False)]
    assert (await kinds(client, OWNER)).count("pin-reset-asked") == 1

    listed = cli(client, "pin", "requests")
    assert listed.returncode == 0 and OWNER in listed.stdout and "Mwansa" in listed.stdout, listed
    assert "credit K100.00" in listed.stdout, listed.stdout      # recent activity support can ask about

    issued = cli(client, "pin", "reset", OWNER)
    assert issued.returncode == 0 and issued.stdout.count("\n") == 1 and "reset issued" in issued.stdout, issued
    again = cli(client, "pin", "reset", OWNER)                    # a repeat: nothing new, no second SMS
    assert again.returncode == 0 and "issued already" in again.stdout, again
    assert (await kinds(client, OWNER)).count("pin-reset-issued") == 1

    first = await owner.dial()                                    # the next dial chooses the PIN first
    assert first.startswith("CON ") and lang.choose in first, first
    weak = await owner.press("1234")                              # the same weak-PIN rules: shown again
    assert weak.startswith("CON ") and lang.choose in weak and weak != first, weak
    await owner.press("7391")
    home = await owner.press("7391")
    assert home.startswith("CON ") and "Enerlectra" in home, home
    assert await resets(client) == [("used", False)]
    assert (await sms_to(client, OWNER))[-1][1].startswith(lang.sms_done)

    assert lang.choose not in await owner.dial()                  # used once: the next dial is the menu
    held = await owner.press(*SEND_MONEY)
    assert held.startswith("END ") and lang.held in held, held

    shift_clock(monkeypatch, hours=24, minutes=1)                 # PIN_RESET_HOLD_HOURS later
    await owner.dial()
    assert (await owner.press(*SEND_MONEY)).startswith("CON ")
    assert "CON " in await owner.press("0961800002", "10")
    await owner.press("7391")                                     # the new PIN moves money
    async with client.app[appkeys.DB]() as s:
        moved = await s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "transfer"))
    assert moved == 1


# -- support's CLI: one line, E.164, never a traceback ----------------------------------------------

@dataclass(frozen=True)
class CliCase:
    label: str
    args: tuple[str, ...]
    asked: bool                  # the owner asked first
    rc: int
    says: str
    resets: list


CLI_CASES = [
    CliCase("no open request", (OWNER,), False, 1, "has not asked for a PIN reset", []),
    CliCase("forced without a request", (OWNER, "--force"), False, 0, "reset issued", [("issued", True)]),
    CliCase("unregistered number", ("+260971899999",), True, 1, "+260971899999 is not registered",
            [("requested", False)]),
    CliCase("a national number", ("0971800001",), True, 2, "use E.164 like +260", [("requested", False)]),
    CliCase("not a number", ("call-me",), True, 2, "use E.164 like +260", [("requested", False)]),
    CliCase("asked, then issued", (OWNER,), True, 0, "reset issued", [("issued", False)]),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.label for c in CLI_CASES])
async def test_pin_reset_cli_answers_one_line(client, case):
    owner = await register(client, OWNER, "Mwansa")
    if case.asked:
        await ask(owner)
    done = cli(client, "pin", "reset", *case.args)
    out = done.stdout + done.stderr
    message = [line for line in out.splitlines() if not line.startswith(("usage:", " "))]  # argparse's usage
    assert done.returncode == case.rc and case.says in out and len(message) == 1, out
    assert "Traceback" not in out
    assert await resets(client) == case.resets
    assert ("pin-reset-issued" in await kinds(client, OWNER)) == (case.rc == 0)


async def test_no_open_requests_says_so(client):
    done = cli(client, "pin", "requests")
    assert (done.returncode, done.stdout) == (0, "no open PIN reset requests\n"), done


# -- expiry and repeats (domain calls on the app clock, the hop for the user's side) ---------------------

async def issue(client, **kw) -> pin_resets.Step:
    return await pin_resets.issue(client.app[appkeys.DB], OWNER, valid_hours=24, hold_hours=24,
                                  text=lambda user, until: "issued", **{"force": False, **kw})


async def test_an_unused_reset_expires_and_the_user_may_ask_again(client, monkeypatch):
    owner = await register(client, OWNER, "Mwansa")
    await ask(owner)
    await issue(client)
    shift_clock(monkeypatch, hours=24, minutes=1)                 # PIN_RESET_VALID_HOURS passed
    first = await owner.dial()
    assert "Choose a new 4-digit PIN" not in first and "Enerlectra - hi Mwansa" in first, first
    assert await resets(client) == [("issued", False)]            # expired lazily, by the next step
    assert "Asked." in await ask(owner)
    assert await resets(client) == [("expired", False), ("requested", False)]
    assert (await kinds(client, OWNER)).count("pin-reset-asked") == 2


async def test_a_reset_that_expires_while_typing_changes_nothing(client, monkeypatch):
    owner = await register(client, OWNER, "Mwansa")
    await ask(owner)
    await issue(client)
    assert "Choose a new 4-digit PIN" in await owner.dial()
    await owner.press("7391")
    shift_clock(monkeypatch, hours=25)
    home = await owner.press("7391")
    assert "That reset has expired. Ask again: Settings > Forgot PIN." in home, home
    async with client.app[appkeys.DB]() as s:
        user = await s.scalar(select(User).where(User.msisdn == OWNER))
    from enerlectra.domain.pin_code import verify_pin_async
    assert await verify_pin_async("4826", user.pin_hash, user.id) and user.pin_reset_hold_until is not None


async def test_the_saving_hop_retransmitted_sets_the_pin_once(client):
    owner = await register(client, OWNER, "Mwansa")
    await ask(owner)
    await issue(client)
    await owner.dial()
    await owner.press("7391")
    saved = await owner.press("7391")
    assert saved == await owner._post()                           # the aggregator's retry: the same reply
    assert (await kinds(client, OWNER)).count("pin-reset-done") == 1
    assert await resets(client) == [("used", False)]
    second = await pin_resets.complete(client.app[appkeys.DB], (await wallet.find_user(
        client.app[appkeys.DB], OWNER)).id, "x", hold_hours=24, text=lambda user, until: "done")
    assert second is None                                        # one-time: nothing left to use


async def test_a_reset_clears_a_wrong_pin_lock(client):
    owner = await register(client, OWNER, "Mwansa")
    async with client.app[appkeys.DB]() as s, s.begin():       # three wrong PINs locked money actions
        await s.execute(update(User).where(User.msisdn == OWNER)
                        .values(pin_failures=3, pin_locked_until=datetime.now(timezone.utc) + timedelta(minutes=30)))
    await ask(owner)
    await issue(client)
    await owner.dial()
    await owner.press("7391", "7391")
    async with client.app[appkeys.DB]() as s:
        user = await s.scalar(select(User).where(User.msisdn == OWNER))
    assert (user.pin_failures, user.pin_locked_until) == (0, None)


# -- SMS: YES <PIN> moves nothing during the hold ---------------------------------------------------------

async def test_yes_by_sms_is_held_after_a_reset_then_allowed(client, monkeypatch):
    owner = await register(client, OWNER, "Mwansa")
    db, settings = client.app[appkeys.DB], client.app[appkeys.SETTINGS]
    user = await wallet.find_user(db, OWNER)
    await wallet.credit(db, "test:energy", user, ledger.ENERGY, 5_000, "test")
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user.id).values(sms_pin_enabled=True))
    await ask(owner)
    await issue(client)
    await owner.dial()
    await owner.press("7391", "7391")

    async def say(text: str) -> str:
        await receive(db, InboundSms(uuid.uuid4().hex, parse_msisdn(OWNER), text), settings)
        return (await sms_to(client, OWNER))[-1][1]

    assert "Reply YES and your PIN" in await say("SELL 1 1.20")
    held = await say("YES 7391")
    assert held.startswith("Your PIN was reset. To keep your money safe, money actions wait until"), held
    async with db() as s:
        assert (await s.scalar(select(User.pin_failures).where(User.id == user.id))) == 0   # no try taken
    shift_clock(monkeypatch, hours=24, minutes=1)
    assert "Reply YES and your PIN" in await say("SELL 1 1.20")
    assert "listed" in (await say("YES 7391")).lower()


# -- a PIN change sends the owner a receipt, once ---------------------------------------------------------

RECEIPTS = [("1", "Enerlectra: your PIN was changed. If this was not you, call us now."),
            ("4", "Enerlectra: PIN yako imebadilishwa. Kama si wewe, tupigie sasa.")]


@pytest.mark.parametrize("lang,receipt", RECEIPTS, ids=["en", "sw"])
async def test_a_pin_change_sends_a_receipt_once(client, lang, receipt):
    owner = Phone(client, OWNER)
    await owner.dial()
    await owner.press(lang, "Mwansa", "4826", "4826")
    await owner.dial()
    reply = await owner.press("3", "2", "4826", "7391", "7391")
    assert reply.startswith("CON "), reply
    assert reply == await owner._post()                          # retransmitted: the stored reply, no 2nd SMS
    assert [body for kind, body in await sms_to(client, OWNER) if kind == "pin-changed"] == [receipt]


# -- every money step waits during the hold; deposits (money in) do not --------------------------------

MONEY_STEPS = [("send money", ("1", "2"), True), ("withdraw", ("2", "2"), True), ("sell kWh", ("5", "1"), True),
               ("buy kWh", ("5", "2"), True), ("deposit", ("2", "1"), False)]


@pytest.mark.parametrize("label,keys,held", MONEY_STEPS, ids=[m[0] for m in MONEY_STEPS])
async def test_money_steps_wait_for_the_hold_after_a_reset(client, monkeypatch, label, keys, held):
    owner = await register(client, OWNER, "Mwansa")
    await ask(owner)
    await issue(client)
    await owner.dial()
    await owner.press("7391", "7391")
    await owner.dial()
    during = await owner.press(*keys)
    assert during.startswith("END " if held else "CON "), during
    assert ("money actions wait until" in during) == held, during
    shift_clock(monkeypatch, hours=24, minutes=1)
    await owner.dial()
    after = await owner.press(*keys)
    assert after.startswith("CON ") and "money actions wait" not in after, after


FORGOT_PATHS = [("settings menu", ("3", "5")), ("the PIN screen of Change PIN", ("3", "2", "9"))]


@pytest.mark.parametrize("label,keys", FORGOT_PATHS, ids=[p[0] for p in FORGOT_PATHS])
async def test_forgot_pin_is_offered_where_the_pin_is_asked(client, label, keys):
    owner = await register(client, OWNER, "Mwansa")
    await owner.dial()
    offer = await owner.press(*keys)
    assert "Forgot your PIN? Support will call this number" in offer and "1 Ask for a reset" in offer, offer
    assert "Support will call you on +260971800001" in await owner.press("1")
    assert await resets(client) == [("requested", False)]
