"""Issue 18 review: the speed work attacked where money, PINs and SMS could go wrong.

Each test states one thing an attacker or an unlucky operator could try against the merged speed changes
(the PIN try reserved in one UPDATE, the SMS drain's lease), on SQLite and on PostgreSQL (TEST_DATABASE_URL).
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import SmsOutbox, User
from enerlectra.domain import outbox, pin_code, pins, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_pin

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
    user = await users.register(db, parse_msisdn(OWNER), "Mwila", "en", hash_pin(RIGHT, 16))
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
