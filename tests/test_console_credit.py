"""An admin's energy credit from the console (issue 19) under attack: the form's key is the ledger's idempotency
key, so whatever arrives however often, each form credits once, with one audit row and one SMS receipt.

- at once: one form posted 20 times together; 20 forms of 4 admins for 5 users, each posted twice, together;
- again later: after the console session expired and the admin logged in again, after Redis lost its keys;
- faults: the process dies inside the crediting transaction; the database fails half-way (a statement refused);
  the database held by another transaction while 20 copies wait: nothing half-done, and the resend credits once;
- bad input: each refused with a 4xx line that says what is wrong, nothing credited; a key sent again with
  another amount or user is a 409, the first credit stays the only one.
After each: `ledger verify` finds nothing.
"""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from enerlectra import faults
from enerlectra.db.models import Account, JournalEntry, SmsOutbox, User
from enerlectra.domain import ledger, wallet
from tests.console_helpers import add_operator, browser, csrf_in, form_key_in, log_in, operator_client
from tests.console_seeds import add_user, audit_rows
from ussd_app import appkeys

REASON = "pilot Kanyama"


def credit_url(user_id: int | str) -> str:
    return f"/console/users/{user_id}/credit"


async def form(http, user_id: int) -> tuple[str, str]:
    """(CSRF token, form key) from the user's profile as `http` (a client or a browser) sees it."""
    html = await (await http.get(f"/console/users/{user_id}")).text()
    return csrf_in(html), form_key_in(html)


async def send(http, user_id: int | str, csrf: str, key: str, wh: str = "2500", reason: str = REASON,
               **extra: str) -> tuple[int, str]:
    """POST the credit form; (status, where it sends the browser or the line it says)."""
    resp = await http.post(credit_url(user_id), allow_redirects=False,
                           data={"csrf": csrf, "key": key, "wh": wh, "reason": reason, **extra})
    return resp.status, resp.headers.get("Location", "").rsplit("done=", 1)[-1] or await resp.text()


async def energy(app, user: User) -> int:
    async with app[appkeys.DB_READ]() as s:
        return (await wallet.balances(s, user.id, user.currency)).energy


async def console_credits(app) -> int:
    async with app[appkeys.DB_READ]() as s:
        return await s.scalar(select(func.count()).select_from(JournalEntry)
                              .where(JournalEntry.idempotency_key.like("console:credit:%")))


async def receipts(app, user: User) -> int:
    async with app[appkeys.DB_READ]() as s:
        return await s.scalar(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.msisdn == user.msisdn,
                                                                                SmsOutbox.kind == "receipt"))


async def books_ok(app) -> None:
    async with app[appkeys.DB]() as s:
        await ledger.one_snapshot(s)
        assert await ledger.verify(s) == []


async def credited_once(app, user: User, wh: int) -> None:
    assert await energy(app, user) == wh and await console_credits(app) == 1
    [row] = [r for r in await audit_rows(app, "ledger.credit") if r.target == f"user:{user.id}"]
    assert row.actor == "admin@example.com" and f'"amount": {wh}' in row.after
    assert await receipts(app, user) == 1
    await books_ok(app)


# -- 1. at once ----------------------------------------------------------------------------------------------

async def test_one_form_posted_twenty_times_at_once_credits_once(client):
    user = await add_user(client.app, "+260971840001", "Pilot")
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    answers = await asyncio.gather(*(send(client, user.id, csrf, key) for _ in range(20)))
    assert sorted(answers) == [(303, "credit-repeat")] * 19 + [(303, "credited")]
    await credited_once(client.app, user, 2500)


async def test_twenty_forms_of_four_admins_for_five_users_at_once_each_credit_once(client):
    people = [await add_user(client.app, f"+26097184010{n}", f"Pilot {n}") for n in range(5)]
    admins = [await add_operator(client, "admin", f"admin{n}@example.com") for n in range(4)]
    async with browser(client) as b0, browser(client) as b1, browser(client) as b2, browser(client) as b3:
        forms, wanted = [], {p.id: 0 for p in people}
        for n, (http, email) in enumerate(zip((b0, b1, b2, b3), admins)):
            assert (await log_in(http, email)).status == 302
            for m in range(5):                       # each admin five forms, one for each user
                who, wh = people[m], 100 * (5 * n + m + 1)
                forms.append((http, who.id, *(await form(http, who.id)), str(wh)))
                wanted[who.id] += wh
        answers = await asyncio.gather(*(send(http, who, csrf, key, wh)
                                         for http, who, csrf, key, wh in forms * 2))       # each form twice
    assert sorted(set(answers)) == [(303, "credit-repeat"), (303, "credited")]
    assert answers.count((303, "credited")) == 20
    assert {p.id: await energy(client.app, p) for p in people} == wanted
    rows = await audit_rows(client.app, "ledger.credit")
    assert len(rows) == 20 and sorted({r.actor for r in rows}) == admins
    assert await console_credits(client.app) == 20
    assert [await receipts(client.app, p) for p in people] == [4] * 5
    await books_ok(client.app)


# -- 2. again, later -------------------------------------------------------------------------------------------

async def forget_sessions(app) -> None:
    """What Redis does when the idle time runs out: the console's session keys are gone."""
    redis, prefix = app[appkeys.REDIS], app[appkeys.SETTINGS].redis_prefix
    keys = [k async for k in redis.scan_iter(match=f"{prefix}console:s:*")]
    assert keys
    await redis.delete(*keys)


async def lose_redis(app) -> None:
    """Redis lost its data: every key of this test's prefix (the console's sessions, the engine's, the limits)."""
    redis, prefix = app[appkeys.REDIS], app[appkeys.SETTINGS].redis_prefix
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    await redis.delete(*keys)


@pytest.mark.parametrize("lost", [forget_sessions, lose_redis])
async def test_the_same_form_after_a_new_login_credits_nothing_more(client, lost):
    user = await add_user(client.app, "+260971840201", "Pilot")
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    assert await send(client, user.id, csrf, key) == (303, "credited")
    await lost(client.app)
    assert await send(client, user.id, csrf, key) == (401, "Log in first.\n")
    assert (await log_in(client, "admin@example.com")).status == 302
    fresh = csrf_in(await (await client.get("/console/me")).text())
    assert fresh != csrf
    assert await send(client, user.id, csrf, key) == (403, "CSRF token missing or wrong: reload the page and try "
                                                           "again.\n")
    assert await send(client, user.id, fresh, key) == (303, "credit-repeat")        # the old form, the new session
    await credited_once(client.app, user, 2500)


# -- 3. faults -----------------------------------------------------------------------------------------------

async def nothing_credited(app, user: User) -> None:
    assert await energy(app, user) == 0 and await console_credits(app) == 0
    assert await audit_rows(app, "ledger.credit") == [] and await receipts(app, user) == 0
    await books_ok(app)


@pytest.fixture
def die_before_commit():
    faults.arm("wallet.credit.before_commit")
    yield
    faults.disarm()


async def test_a_credit_killed_before_its_commit_leaves_nothing_and_the_resend_credits_once(client,
                                                                                          die_before_commit):
    user = await add_user(client.app, "+260971840301", "Pilot")
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    status, _ = await send(client, user.id, csrf, key)
    assert status == 500                              # the process died there (test server: an error page)
    await nothing_credited(client.app, user)
    assert await send(client, user.id, csrf, key) == (303, "credited")
    await credited_once(client.app, user, 2500)


class FailOnce:
    """The database refuses the first statement that writes `table` (a connection lost half-way): a real
    error from the engine's own event, raised where the driver's would be."""

    def __init__(self, engine, table: str):
        self.engine, self.table, self.fired = engine.sync_engine, table, False
        event.listen(self.engine, "before_cursor_execute", self._check)

    def _check(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self.fired and statement.lstrip().upper().startswith(f"INSERT INTO {self.table.upper()}"):
            self.fired = True
            raise OperationalError(statement, parameters, ConnectionResetError("server closed the connection"))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._check)


@pytest.mark.parametrize("table", ["audit_log", "sms_outbox"])
async def test_a_credit_whose_transaction_fails_half_way_leaves_nothing_and_the_resend_credits_once(client, table):
    user = await add_user(client.app, "+260971840302", "Pilot")
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    fail = FailOnce(client.app[appkeys.DB_ENGINE], table)
    try:
        status, said = await send(client, user.id, csrf, key)
    finally:
        fail.close()
    assert fail.fired and status == 503 and said.count("\n") == 1 and "send the same form again" in said
    await nothing_credited(client.app, user)
    assert await send(client, user.id, csrf, key) == (303, "credited")
    await credited_once(client.app, user, 2500)


async def test_twenty_copies_waiting_behind_a_long_transaction_credit_once(client):
    """Another transaction holds the operator's energy account (PostgreSQL: its row; SQLite: the writer) while
    20 copies of one form arrive: they wait, then one credits and 19 find its key."""
    first, user = (await add_user(client.app, "+260971840401", "Earlier"),
                   await add_user(client.app, "+260971840402", "Pilot"))
    await wallet.credit(client.app[appkeys.DB], "test:earlier", first, ledger.ENERGY, 100, "opens the account")
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    held = asyncio.Event()

    async def hold() -> None:
        async with client.app[appkeys.DB]() as s, s.begin():
            await s.execute(update(Account).where(Account.code == ledger.system_code("operator", ledger.ENERGY))
                            .values(balance=Account.balance))
            held.set()
            await asyncio.sleep(1.0)

    holder = asyncio.create_task(hold())
    await held.wait()
    answers = await asyncio.gather(*(send(client, user.id, csrf, key) for _ in range(20)))
    await holder
    assert sorted(answers) == [(303, "credit-repeat")] * 19 + [(303, "credited")]
    await credited_once(client.app, user, 2500)


# -- 4. bad input ---------------------------------------------------------------------------------------------

WH_WRONG = "Wh must be a whole number from 1 to 100,000."
KEY_WRONG = "The form is incomplete: reload the page and try again."


@pytest.mark.parametrize("label, change, status, says", [
    ("zero", {"wh": "0"}, 400, WH_WRONG),
    ("zeros", {"wh": "000"}, 400, WH_WRONG),
    ("negative", {"wh": "-5"}, 400, WH_WRONG),
    ("plus sign", {"wh": "+5"}, 400, WH_WRONG),
    ("over 100 kWh", {"wh": "100001"}, 400, WH_WRONG),
    ("over, after zeros", {"wh": "000000000100001"}, 400, WH_WRONG),
    ("5,000 digits", {"wh": "9" * 5000}, 400, WH_WRONG),          # int() refuses over 4,300 digits: a ValueError
    ("decimal", {"wh": "1.5"}, 400, WH_WRONG),
    ("too many places", {"wh": "2500.0001"}, 400, WH_WRONG),
    ("decimal comma", {"wh": "2500,5"}, 400, WH_WRONG),
    ("thousands separator", {"wh": "2,500"}, 400, WH_WRONG),
    ("exponent", {"wh": "1e3"}, 400, WH_WRONG),
    ("words", {"wh": "ten"}, 400, WH_WRONG),
    ("empty", {"wh": ""}, 400, WH_WRONG),
    ("Arabic-Indic digits", {"wh": "\u0662\u0665\u0660\u0660"}, 400, WH_WRONG),
    ("fullwidth digits", {"wh": "\uff12\uff15"}, 400, WH_WRONG),
    ("superscript two", {"wh": "\u00b2"}, 400, WH_WRONG),
    ("NUL in the amount", {"wh": "25\x0000"}, 400, WH_WRONG),
    ("no reason", {"reason": "   "}, 400, "Write the reason for the credit (the pilot, the ticket)."),
    ("NUL in the reason", {"reason": "pilot\x00Kanyama"}, 400, "The reason may hold letters, digits and punctuation"),
    ("reversed text in the reason", {"reason": "pilot \u202eamaynaK"}, 400, "The reason may hold letters"),
    ("no key", {"key": ""}, 400, KEY_WRONG),
    ("short key", {"key": "x"}, 400, KEY_WRONG),
    ("long key", {"key": "k" * 41}, 400, KEY_WRONG),
    ("key with a space", {"key": "abcd efgh"}, 400, KEY_WRONG),
    ("key not ASCII", {"key": "\u043a\u043b\u044e\u0447" * 3}, 400, KEY_WRONG),
    ("no CSRF", {"csrf": ""}, 403, "CSRF token missing or wrong"),
    ("no such user", {"user": "999999"}, 404, "No such user."),
    ("user id in Unicode digits", {"user": "\u0661\u0662"}, 404, "No such user."),
    ("user id too long", {"user": "9" * 5000}, 404, "No such user."),
])
async def test_a_bad_credit_form_says_what_is_wrong_and_credits_nothing(client, label, change, status, says):
    user = await add_user(client.app, "+260971840501", "Pilot")
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    fields = {"csrf": csrf, "key": key, "wh": "2500", "reason": REASON, **change}
    target = fields.pop("user", user.id)
    resp = await client.post(credit_url(target), data=fields, allow_redirects=False)
    text = await resp.text()
    assert (resp.status, text.count("\n")) == (status, 1) and text.startswith(says), (label, resp.status, text)
    await nothing_credited(client.app, user)


@pytest.mark.parametrize("typed, wh", [("2500", 2500), ("  2500 ", 2500), ("0002500", 2500), ("1", 1),
                                       ("100000", 100_000), ("000100000", 100_000), ("0" * 5000 + "1", 1)],
                         ids=["plain", "spaces", "zeros", "one", "the cap", "zeros, the cap", "5,000 zeros, 1"])
async def test_a_whole_number_of_wh_within_the_cap_is_credited_as_typed(client, typed, wh):
    user = await add_user(client.app, "+260971840502", "Pilot")
    await operator_client(client, "admin")
    assert await send(client, user.id, *await form(client, user.id), wh=typed) == (303, "credited")
    await credited_once(client.app, user, wh)


@pytest.mark.parametrize("second", [{"wh": "2600"}, {"to": "other"}, {"wh": "2600", "to": "other"}])
async def test_a_key_sent_again_for_another_credit_is_refused_and_the_first_stands(client, second):
    user, other = (await add_user(client.app, "+260971840601", "Pilot"),
                   await add_user(client.app, "+260971840602", "Other"))
    await operator_client(client, "admin")
    csrf, key = await form(client, user.id)
    assert await send(client, user.id, csrf, key) == (303, "credited")
    target = other.id if second.get("to") == "other" else user.id
    status, said = await send(client, target, csrf, key, wh=second.get("wh", "2500"))
    assert status == 409 and said.count("\n") == 1 and said.startswith("This form made another credit already")
    assert await energy(client.app, other) == 0
    await credited_once(client.app, user, 2500)
    assert await send(client, user.id, csrf, key) == (303, "credit-repeat")      # the first form itself: a repeat
