"""PostgreSQL only: migrations both ways, and registrations of one number racing each other."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, inspect, select

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.migrate import downgrade, upgrade
from enerlectra.db.models import User
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests.databases import pg_url
from tests.helpers import committed_only

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
    pin_hash = hash_user_pin("4826", 16)
    made = await asyncio.gather(*(users.register(db, number, f"Name{chr(65 + n)}", "en", pin_hash)
                                  for n in range(10)))
    async with db() as s:
        count = (await s.execute(select(func.count()).select_from(User))).scalar()
    await engine.dispose()
    assert count == 1
    assert len({u.id for u in made}) == 1 and len({u.name for u in made}) == 1, "all see the first"


async def test_64_concurrent_transfers_among_8_accounts_lose_and_create_nothing(database):
    import random

    from sqlalchemy.ext.asyncio import create_async_engine

    from enerlectra.db.models import Account
    from enerlectra.domain import ledger
    from enerlectra.domain.ledger import InsufficientFunds, Leg

    url, schema = database
    engine = create_async_engine(url, pool_size=64, max_overflow=0,
                                 connect_args={"server_settings": {"search_path": schema}})
    db = make_sessionmaker(engine)
    async with committed_only(db) as s:
        operator = (await ledger.system(s, "operator", "ZMW")).id
        accounts = [(await ledger.account(s, f"user:{n}:ZMW", "money", "ZMW")).id for n in range(8)]
    for n, acc in enumerate(accounts):
        async with committed_only(db) as s:
            await ledger.post(s, f"fund-{n}", "deposit", [Leg(operator, -10_000), Leg(acc, 10_000)])
    rng = random.Random(7)
    moves = [(rng.choice(accounts), rng.choice(accounts), rng.randint(1, 6_000)) for _ in range(64)]

    async def move(n: int, src: int, dst: int, amount: int) -> str:
        try:
            async with committed_only(db) as s:
                await ledger.post(s, f"move-{n}", "transfer", [Leg(src, -amount), Leg(dst, amount)])
            return "posted"
        except InsufficientFunds:
            return "refused"

    outcomes = await asyncio.gather(*(move(n, *m) for n, m in enumerate(moves)))   # any other error escapes
    async with db() as s:
        balances = dict((await s.execute(select(Account.id, Account.balance)
                                         .where(Account.id.in_(accounts)))).all())
        problems = await ledger.verify(s)
    await engine.dispose()
    assert sum(balances.values()) == 80_000, "money was lost or created"
    assert all(b >= 0 for b in balances.values())
    assert problems == []
    assert outcomes.count("posted") > 32, outcomes


async def test_32_buyers_racing_for_one_offer_fill_it_exactly_once(database):
    from sqlalchemy.ext.asyncio import create_async_engine

    from enerlectra.db.models import MarketOrder, Trade
    from enerlectra.domain import ledger, wallet
    from enerlectra.domain.market import book, texts
    from enerlectra.domain.market.rules import MarketRules

    url, schema = database
    engine = create_async_engine(url, pool_size=40, max_overflow=0,
                                 connect_args={"server_settings": {"search_path": schema}})
    db = make_sessionmaker(engine)
    pin_hash, rules = hash_user_pin("4826", 16), MarketRules()
    seller = await users.register(db, parse_msisdn("+260971610000"), "Seller", "en", pin_hash)
    buyers = [await users.register(db, parse_msisdn(f"+2609716100{n:02d}"), "Buyer", "en", pin_hash)
              for n in range(1, 33)]
    await wallet.credit(db, "race:energy", seller, ledger.ENERGY, 1_000, "race")
    for n, buyer in enumerate(buyers):
        await wallet.credit(db, f"race:money:{n}", buyer, "ZMW", 1_000, "race")
    async with committed_only(db) as s:
        offer = (await book.place(s, "race:offer", seller, "sell", 1_000, 120, rules, texts.messages())).order

    async def buy(n: int, buyer) -> int:
        async with committed_only(db) as s:
            placed = await book.place(s, f"race:buy:{n}", buyer, "buy", 300, 120, rules, texts.messages(),
                                      keep_rest=False)
            return placed.filled_wh

    filled = await asyncio.gather(*(buy(n, b) for n, b in enumerate(buyers)))
    async with db() as s:
        trades = (await s.scalars(select(Trade))).all()
        offer = await s.get(MarketOrder, offer.id)
        problems = await ledger.verify(s) + await book.check_escrow(s)
        energy = [(await wallet.balances(s, b.id, "ZMW")).energy for b in buyers]
    await engine.dispose()
    assert sorted(filled, reverse=True)[:4] == [300, 300, 300, 100] and sum(filled) == 1_000
    assert sum(t.wh for t in trades) == 1_000 and len(trades) == 4, "sold exactly once, never oversold"
    assert (offer.state, offer.remaining_wh, offer.escrow) == ("filled", 0, 0)
    assert sum(energy) == 1_000
    assert problems == []
