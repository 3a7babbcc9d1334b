"""Times with an offset are stored and compared as the instant they name, on SQLite as on PostgreSQL
(db.models.UtcDateTime). Found by test_market at 00:20 in Lusaka: an offer "until tonight" (local midnight,
an aware time at +02:00) was stored on SQLite as its wall time, read back as UTC, and expired 2 h late."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import User
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.pins import LOCAL_TIME, aware_utc

INSTANT = datetime(2026, 12, 7, 22, 0, tzinfo=timezone.utc)         # midnight in Lusaka, 01:00 in Dar
ZONES = [timezone.utc, LOCAL_TIME["ZM"], LOCAL_TIME["TZ"], timezone(timedelta(hours=-5)),
         timezone(timedelta(hours=5, minutes=30))]


@pytest.fixture
async def db_and_user(settings):
    engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
    db = make_sessionmaker(engine)
    user = await users.register(db, parse_msisdn("+260971700099"), "Chanda", "en", hash_user_pin("4826", 16))
    yield db, user
    await engine.dispose()


@pytest.mark.parametrize("zone", ZONES, ids=str)
async def test_an_aware_time_is_stored_as_the_instant_it_names(db_and_user, zone):
    db, user = db_and_user
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user.id).values(pin_locked_until=INSTANT.astimezone(zone)))
    async with db() as s:
        stored = await s.scalar(select(User.pin_locked_until).where(User.id == user.id))
    assert aware_utc(stored) == INSTANT


@pytest.mark.parametrize("written", ZONES, ids=str)
@pytest.mark.parametrize("asked", ZONES, ids=str)
async def test_a_comparison_with_an_aware_time_compares_instants(db_and_user, written, asked):
    db, user = db_and_user
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user.id).values(pin_locked_until=INSTANT.astimezone(written)))
    minute = timedelta(minutes=1)
    async with db() as s:
        before = await s.scalar(select(User.id).where(User.id == user.id,
                                                      User.pin_locked_until < (INSTANT - minute).astimezone(asked)))
        after = await s.scalar(select(User.id).where(User.id == user.id,
                                                     User.pin_locked_until < (INSTANT + minute).astimezone(asked)))
    assert (before, after) == (None, user.id)
