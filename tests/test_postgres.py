"""PostgreSQL only: migrations both ways, and registrations of one number racing each other."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, inspect, select

from tests.conftest import pg_url
from ussd_app.db.engine import make_engine, make_sessionmaker
from ussd_app.db.migrate import downgrade, upgrade
from ussd_app.db.models import User
from ussd_app.domain import users
from ussd_app.domain.phone import parse_msisdn
from ussd_app.domain.pin import hash_pin

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(pg_url() is None, reason="TEST_DATABASE_URL is not set (PostgreSQL tests)")]


async def test_migrations_go_down_and_up_again(database):
    url, schema = database
    await asyncio.to_thread(downgrade, url, "base", schema)
    engine = make_engine(url, schema=schema)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "users" not in tables
    await asyncio.to_thread(upgrade, url, "head", schema)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    await engine.dispose()
    assert {"users", "ussd_session_events", "alembic_version"} <= set(tables)


async def test_racing_registrations_of_one_number_make_one_user(database):
    url, schema = database
    engine = make_engine(url, schema=schema)
    db = make_sessionmaker(engine)
    number = parse_msisdn("+260971600001")
    pin_hash = hash_pin("4826", 16)
    made = await asyncio.gather(*(users.register(db, number, f"Name{chr(65 + n)}", "en", pin_hash)
                                  for n in range(10)))
    async with db() as s:
        count = (await s.execute(select(func.count()).select_from(User))).scalar()
    await engine.dispose()
    assert count == 1
    assert len({u.id for u, _sms in made}) == 1 and len({u.name for u, _sms in made}) == 1, "all see the first"
