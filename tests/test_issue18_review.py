"""Issue 18 review: the speed work attacked where money, PINs and SMS could go wrong.

Each test states one thing an attacker or an unlucky operator could try against the merged speed changes (the
PIN try reserved in one UPDATE, the SMS drain's lease, the reader engine, the two-hop replay cache), on SQLite
and on PostgreSQL (TEST_DATABASE_URL).
"""
from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import SmsOutbox, User
from enerlectra.domain import outbox, pin_code, pins, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests import test_wallet as wallet_tests
from tests.helpers import committed_only
from tests.test_sms_send import queue_sms
from ussd_app import appkeys
from workers import runtime
from workers import sms as sms_jobs

OWNER = "+260971555001"
RIGHT = "4826"


@pytest.fixture
async def db(settings):
    engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
    yield make_sessionmaker(engine)
    await engine.dispose()


class KdfCount:
    """How many PIN KDFs ran (the real KDF's observer hook)."""

    def __init__(self):
        self.runs = 0

    def __call__(self, moment: str) -> None:
        if moment == "start":
            self.runs += 1


@pytest.fixture
def kdf_count():
    count = KdfCount()
    pin_code.KDF_OBSERVERS.append(count)
    yield count
    pin_code.KDF_OBSERVERS.remove(count)


# -- the PIN try limit against parallel wrong PINs ----------------------------------------------------------

@pytest.mark.parametrize("max_failures, guesses, lapsed_lock", [
    (3, 8, False),        # a fresh account: at most three guesses are ever evaluated
    (3, 8, True),         # a lock that lapsed: lifted once, then three tries again, not one per guess
    (1, 5, False),
])
async def test_parallel_wrong_pins_evaluate_at_most_the_tries_and_lock_once(db, kdf_count, max_failures,
                                                                            guesses, lapsed_lock):
    user = await users.register(db, parse_msisdn(OWNER), "Mwila", "en", hash_user_pin(RIGHT, 16))
    if lapsed_lock:
        async with db() as s, s.begin():
            await s.execute(update(User).where(User.id == user.id).values(
                pin_failures=max_failures, pin_locked_until=outbox.now() - timedelta(seconds=1)))

    async def guess(i: int) -> pins.PinCheck:
        return await pins.check(db, user.id, f"{1000 + i:04d}", max_failures=max_failures, lock_minutes=30,
                                lock_sms=lambda u, until: "locked")

    checks = await asyncio.gather(*(guess(i) for i in range(guesses)))
    assert kdf_count.runs <= max_failures, "more guesses evaluated than the tries allow"
    assert sum(c.locked_now for c in checks) == 1, "exactly one guess locks"
    assert not any(c.ok for c in checks)
    async with db() as s:
        locks = await s.scalar(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.kind == "pin-lock"))
        row = await s.get(User, user.id)
    assert locks == 1, "one lock, one SMS"
    assert pins.aware_utc(row.pin_locked_until) > outbox.now()


# -- the SMS drain's lease: setting up the sender is not sending time ----------------------------------------

@pytest.fixture
def slow_sdk_start(monkeypatch):
    """The SDK's service takes `delay` seconds to start (a cold work horse on a loaded box): the third-party
    constructor is slowed, our code runs as it is."""
    def arm(delay: float) -> None:
        sdk = sys.modules["africastalking.SMS"].SMSService
        original = sdk.__init__

        def slow(self, *args, **kw):
            time.sleep(delay)
            original(self, *args, **kw)
        monkeypatch.setattr(sdk, "__init__", slow)
    return arm


@pytest.mark.parametrize("lease_s, sdk_start_s", [(1, 0.7), (2, 1.3)])
async def test_a_slow_sender_start_does_not_eat_the_claimed_rows_lease(at_client, at_settings, fake_at,
                                                                       slow_sdk_start, lease_s, sdk_start_s):
    """The drain claims rows for `lease` and starts no request after half of it. Building the gateway after
    the claim counted its start-up as sending time: a horse slower to start than half the lease handed every
    row back untried, claim after claim (each fork starts cold), until the sweeper re-dispatched it
    (tests/test_worker_process.py "fork per job", flaky under load with its 1 s lease)."""
    fake, _url = fake_at
    settings = at_settings.with_(sms_lease_seconds=lease_s)
    [outbox_id] = await queue_sms(at_client, "+260971555002", body="Your cluster vote passed")
    slow_sdk_start(sdk_start_s)
    runtime.configure(settings)
    summary = await asyncio.to_thread(sms_jobs.drain_outbox)
    assert summary == "1 settled, 0 to retry, 0 handed back untried"
    async with at_client.app[appkeys.DB]() as s:
        row = await s.get(SmsOutbox, outbox_id)
    assert (row.status, row.attempts, len(fake.messages)) == ("sent", 1, 1)


# -- the reader engine refuses writes ----------------------------------------------------------------------

WRITES = {   # what a screen might write by mistake through `db_read` (a read session never commits)
    "update": lambda uid: update(User).where(User.id == uid).values(name="Mallory"),
    "delete": lambda uid: SmsOutbox.__table__.delete().where(SmsOutbox.msisdn == OWNER),
}


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_a_write_through_the_reader_engine_is_refused(client, write):
    """The reader (SQLite: statements run in place on the event loop) is for reads that decide nothing. A write
    there would take SQLite's writer lock on the loop (or PostgreSQL row locks outside the writer's
    discipline) and, without a commit, vanish silently: it must fail loudly instead."""
    db, reader = client.app[appkeys.DB], client.app[appkeys.DB_READ]
    user = await users.register(db, parse_msisdn(OWNER), "Mwila", "en", hash_user_pin(RIGHT, 16))
    async with committed_only(db) as s:
        await outbox.add(s, OWNER, "Welcome", "welcome")
    with pytest.raises(DBAPIError):
        async with reader() as s:
            await s.execute(WRITES[write](user.id))
            await s.commit()
    async with db() as s:
        assert (await s.get(User, user.id)).name == "Mwila"
        assert await s.scalar(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.msisdn == OWNER)) == 1


# -- a late duplicate of a hop older than the two-hop replay cache (Africa's Talking) -------------------------

@pytest.mark.parametrize("late", [
    [],                  # the dial itself (text ""), five hops back
    ["1"],               # the main menu's pick, four hops back
    ["1", "2"],          # three hops back: just older than the two the replay cache answers
])
async def test_a_late_duplicate_of_an_old_hop_presses_nothing_and_the_send_goes_through(client, late):
    """The replay cache keeps the last two hops. Africa's Talking's text only grows, so an older hop arriving
    late is shorter than what the session consumed: it was taken whole as a new input to the PIN screen and
    moved the session's path back, so the user's right PIN then read as "2*0961900002*20*4826" and was
    refused, the session stuck. It must show the screen as it is and change nothing."""
    await wallet_tests.register(client, wallet_tests.RECIPIENT, "Chipo")
    sender = await wallet_tests.register(client, wallet_tests.SENDER, "Bupe")
    await wallet_tests.fund(client, wallet_tests.SENDER)
    await sender.dial()
    at_pin = await sender.press("1", "2", "0961900002", "20")
    assert "Enter your PIN" in at_pin
    walked, sender.inputs = sender.inputs, list(late)
    assert await sender._post() == at_pin, "the screen the session is on"
    sender.inputs = walked
    assert await sender.press("4826") == "END Sent K20.00 to Chipo. Your balance: K80.00."
    assert await wallet_tests.transfers(client) == 1
