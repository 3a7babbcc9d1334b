"""Migration 0023: on SQLite users.id becomes AUTOINCREMENT (an id is never handed out twice, as PostgreSQL's
sequence never does), so a PIN bound to a deleted user's id opens nobody (tests/test_review_pin_binding.py).
The rebuild keeps every row, every column, the indexes and every row that points at a user."""
from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import delete, select

from enerlectra.db import migrate
from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import User
from enerlectra.domain import ledger, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests.test_review_0023 import _plant

NUMBERS = ("+260971850001", "+260971850002", "+260971850003", "+255712850004")


def _rows(path, sql):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def at_0022(tmp_path):
    """(path, sessions): a SQLite database built up to 0022 only, with users and accounts pointing at them."""
    path = tmp_path / "at0022.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url, "0022")
    engine = make_engine(url)
    db = make_sessionmaker(engine)
    for number in NUMBERS:
        user = await users.register(db, parse_msisdn(number), "Bupe", "en", hash_user_pin("4826", 16))
        async with db() as s, s.begin():
            await ledger.account(s, f"user:{user.id}:{user.currency}", "money", user.currency, user.id)
    with sqlite3.connect(path) as conn:        # a trade between two of them: trades.buyer_id has no index
        _plant(conn, "trades", {"currency": "ZMW", "buyer_id": 1, "seller_id": 2})
    yield path, url, db
    await engine.dispose()


async def test_the_rebuild_keeps_every_row_and_every_reference(at_0022):
    path, url, db = at_0022
    before = _rows(path, "SELECT * FROM users ORDER BY id")
    accounts = _rows(path, "SELECT * FROM accounts ORDER BY id")
    indexes = _rows(path, "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
    violations = _rows(path, "PRAGMA foreign_key_check")    # the planted trade's orders do not exist
    assert "AUTOINCREMENT" not in _rows(path, "SELECT sql FROM sqlite_master WHERE name = 'users'")[0][0]

    await asyncio.to_thread(migrate.upgrade, url, "head")

    assert "AUTOINCREMENT" in _rows(path, "SELECT sql FROM sqlite_master WHERE name = 'users'")[0][0]
    assert _rows(path, "SELECT * FROM users ORDER BY id") == before
    assert _rows(path, "SELECT * FROM accounts ORDER BY id") == accounts
    assert _rows(path, "PRAGMA foreign_key_check") == violations       # none added, none hidden
    assert not any(v[2] == "users" for v in violations)
    assert _rows(path, "PRAGMA integrity_check") == [("ok",)]
    # every index as it was (ix_users_created_at recreated, the rebuild's own on trades.buyer_id... dropped)
    assert _rows(path, "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name") == indexes
    highest = max(r[0] for r in before)
    assert _rows(path, "SELECT seq FROM sqlite_sequence WHERE name = 'users'") == [(highest,)]
    assert _rows(path, "SELECT name FROM sqlite_temp_master") == []
    with pytest.raises(sqlite3.IntegrityError):                    # msisdn still unique
        _rows(path, f"INSERT INTO users (msisdn, country, currency, language, name, pin_hash) "
                    f"VALUES ('{NUMBERS[0]}', 'ZM', 'ZMW', 'en', 'x', 'x')")
    with pytest.raises(sqlite3.IntegrityError):                    # a user with accounts still cannot go
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM users WHERE id = ?", (before[0][0],))


async def test_after_it_a_deleted_highest_id_is_not_handed_out_again(at_0022):
    path, url, db = at_0022
    await asyncio.to_thread(migrate.upgrade, url, "head")
    newest = await users.register(db, parse_msisdn("+260971850009"), "Mallory", "en",
                                  hash_user_pin("4826", 16))
    async with db() as s, s.begin():
        await s.execute(delete(User).where(User.id == newest.id))
    after = await users.register(db, parse_msisdn("+260971850010"), "Bupe", "en", hash_user_pin("3917", 16))
    assert after.id > newest.id
    async with db() as s:
        assert newest.id not in set(await s.scalars(select(User.id)))


async def test_upgrading_twice_and_a_downgrade_in_between_change_nothing(at_0022):
    path, url, db = at_0022
    await asyncio.to_thread(migrate.upgrade, url, "head")
    def users_table():
        return _rows(path, "SELECT sql FROM sqlite_master WHERE name = 'users'"), _rows(path, "SELECT * FROM users")
    before = users_table()
    await asyncio.to_thread(migrate.downgrade, url, "0022")
    await asyncio.to_thread(migrate.upgrade, url, "head")
    assert users_table() == before
