"""The order book in SQL under any sequence of orders and cancels (hypothesis): escrow always equals what the
open orders hold, the ledger verifies, and no Wh or money is created or lost."""
from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import Account, MarketOrder, User
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.rules import MarketRules
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests.helpers import committed_only

RULES = MarketRules()
ENERGY, MONEY = 5_000, 100_00          # each trader's starting Wh and ngwee

actions = st.lists(st.one_of(
    st.tuples(st.just("order"), st.integers(0, 2), st.sampled_from(["buy", "sell"]), st.integers(1, 30),
              st.integers(1, 20), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 2), st.integers(0, 40)),
), max_size=25)


async def _totals(s) -> tuple[int, int]:
    """All Wh and all ZMW in every account but the operator's (which funded the traders)."""
    rows = (await s.execute(select(Account.asset, func.sum(Account.balance)).where(
        Account.code.not_like("system:operator:%")).group_by(Account.asset))).all()
    held = dict(rows)
    return int(held.get(ledger.ENERGY, 0)), int(held.get("ZMW", 0))


async def _traders(db) -> list[User]:
    found = []
    for n in range(3):
        user = await users.register(db, parse_msisdn(f"+26097{6000000 + n:07d}"), f"T{n}", "en",
                                       hash_user_pin("4826", 16))
        await wallet.credit(db, f"seed:e:{n}", user, ledger.ENERGY, ENERGY, "seed")
        await wallet.credit(db, f"seed:m:{n}", user, "ZMW", MONEY, "seed")
        found.append(user)
    return found


_runs = itertools.count(1)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=actions)
async def test_any_orders_keep_escrow_ledger_and_totals_straight(database, steps):
    """The database lives across examples (one per test): the invariants hold whatever came before."""
    url, schema = database
    engine = make_engine(url, schema=schema)
    db = make_sessionmaker(engine)
    run = next(_runs)
    try:
        async with db() as s:
            traders = list((await s.scalars(select(User).order_by(User.id))).all()) or None
        traders = traders or await _traders(db)
        for n, step in enumerate(steps):
            try:
                async with committed_only(db) as s:
                    if step[0] == "order":
                        _kind, who, side, price, lots, keep = step
                        await book.place(s, f"p{run}:{n}", await s.get(User, traders[who].id), side, lots * 100,
                                         price * 10, RULES, texts.messages(), keep_rest=keep)
                    else:
                        _kind, who, index = step
                        ids = (await s.scalars(select(MarketOrder.id).where(
                            MarketOrder.user_id == traders[who].id, MarketOrder.state == "open")
                            .order_by(MarketOrder.id))).all()
                        if ids:
                            await book.cancel(s, await s.get(User, traders[who].id), ids[index % len(ids)])
            except ledger.InsufficientFunds:
                pass                              # refused whole: nothing moved
            async with db() as s:
                assert await book.check_escrow(s) == []
                assert await _totals(s) == (3 * ENERGY, 3 * MONEY)
        async with db() as s:
            assert await ledger.verify(s) == []
    finally:
        await engine.dispose()
