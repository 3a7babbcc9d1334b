"""The ledger proves itself: a hypothesis state machine over deposits, transfers, fees, retries and
concurrent transfers, checked after every step; tampering is caught and named."""
from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import settings as hsettings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import pg_url
from ussd_app.db.engine import make_engine, make_sessionmaker
from ussd_app.db.migrate import upgrade
from ussd_app.db.models import Account, Posting
from ussd_app.domain import ledger
from ussd_app.domain.ledger import InsufficientFunds, Leg, Unbalanced

USERS = 4


class Db:
    """A fresh migrated database (SQLite file, or a PostgreSQL schema) and a loop of its own."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.url, self.schema = pg_url(), None
        if self.url:
            self.schema = f"l_{uuid.uuid4().hex[:12]}"
            self.run(self._admin(f'CREATE SCHEMA "{self.schema}"'))
        else:
            self.tmp = tempfile.TemporaryDirectory()
            self.url = f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'ledger.sqlite3'}"
        upgrade(self.url, schema=self.schema)
        self.engine = make_engine(self.url, schema=self.schema)
        self.db = make_sessionmaker(self.engine)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def _admin(self, sql: str) -> None:
        admin = create_async_engine(self.url)
        async with admin.begin() as conn:
            await conn.execute(text(sql))
        await admin.dispose()

    def close(self) -> None:
        self.run(self.engine.dispose())
        if self.schema:
            self.run(self._admin(f'DROP SCHEMA "{self.schema}" CASCADE'))
        else:
            self.tmp.cleanup()
        self.loop.close()


async def _post(db, key, kind, legs):
    async with db() as s, s.begin():
        return await ledger.post(s, key, kind, legs)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = Db()
        self.keys: dict[str, tuple[str, list[Leg]]] = {}
        self.expected: dict[int, int] = defaultdict(int)

    @initialize()
    def accounts(self):
        async def make():
            async with self.store.db() as s, s.begin():
                self.operator = (await ledger.system(s, "operator", "ZMW")).id
                self.fees = (await ledger.system(s, "fees", "ZMW")).id
                self.users = [(await ledger.account(s, f"user:{n}:ZMW", "money", "ZMW")).id for n in range(USERS)]
                self.energy = (await ledger.account(s, "user:0:WH", "energy", "WH")).id
                self.energy_src = (await ledger.system(s, "operator", "WH")).id
        self.store.run(make())

    def teardown(self):
        self.store.close()

    def _apply(self, legs: list[Leg]) -> None:
        for leg in legs:
            self.expected[leg.account_id] += leg.amount

    @rule(who=st.integers(0, USERS - 1), amount=st.integers(1, 10**9))
    def deposit(self, who, amount):
        key = f"dep-{uuid.uuid4().hex}"
        legs = [Leg(self.operator, -amount), Leg(self.users[who], amount)]
        assert self.store.run(_post(self.store.db, key, "deposit", legs)).created
        self.keys[key] = ("deposit", legs)
        self._apply(legs)

    @rule(wh=st.integers(1, 10**7))
    def energy_credit(self, wh):
        legs = [Leg(self.energy_src, -wh), Leg(self.energy, wh)]
        self.store.run(_post(self.store.db, f"wh-{uuid.uuid4().hex}", "credit", legs))
        self._apply(legs)

    @rule(a=st.integers(0, USERS - 1), b=st.integers(0, USERS - 1), amount=st.integers(1, 10**9),
          fee=st.integers(0, 500))
    def transfer(self, a, b, amount, fee):
        key = f"tx-{uuid.uuid4().hex}"
        legs = [Leg(self.users[a], -(amount + fee)), Leg(self.users[b], amount)] + \
            ([Leg(self.fees, fee)] if fee else [])
        net = defaultdict(int)
        for leg in legs:
            net[leg.account_id] += leg.amount
        affordable = self.expected[self.users[a]] + net[self.users[a]] >= 0
        try:
            self.store.run(_post(self.store.db, key, "transfer", legs))
        except InsufficientFunds:
            assert not affordable
            return
        assert affordable
        self.keys[key] = ("transfer", legs)
        self._apply(legs)

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def retry_same_key(self, data):
        key = data.draw(st.sampled_from(sorted(self.keys)))
        kind, legs = self.keys[key]
        posted = self.store.run(_post(self.store.db, key, kind, legs))
        assert not posted.created                        # nothing moves the second time

    @rule(a=st.integers(0, USERS - 1), b=st.integers(0, USERS - 1), amount=st.integers(1, 10**6))
    def concurrent_transfers(self, a, b, amount):
        legs_ab = [Leg(self.users[a], -amount), Leg(self.users[b], amount)]
        legs_ba = [Leg(self.users[b], -amount), Leg(self.users[a], amount)]

        async def both():
            return await asyncio.gather(_post(self.store.db, f"c-{uuid.uuid4().hex}", "transfer", legs_ab),
                                        _post(self.store.db, f"c-{uuid.uuid4().hex}", "transfer", legs_ba),
                                        return_exceptions=True)
        for legs, result in zip((legs_ab, legs_ba), self.store.run(both()), strict=True):
            if isinstance(result, InsufficientFunds):
                continue
            assert not isinstance(result, BaseException), result
            self._apply(legs)

    @rule(amount=st.integers(1, 100))
    def unbalanced_is_refused(self, amount):
        with pytest.raises(Unbalanced):
            self.store.run(_post(self.store.db, f"bad-{uuid.uuid4().hex}", "transfer",
                                 [Leg(self.users[0], -amount), Leg(self.users[1], amount + 1)]))

    @invariant()
    def books_balance(self):
        async def check():
            async with self.store.db() as s:
                accounts = (await s.scalars(select(Account))).all()
                sums = dict((await s.execute(select(Posting.account_id, func.sum(Posting.amount))
                                             .group_by(Posting.account_id))).all())
                problems = await ledger.verify(s)
            return accounts, sums, problems
        if not hasattr(self, "users"):
            return
        accounts, sums, problems = self.store.run(check())
        per_asset = defaultdict(int)
        for acc in accounts:
            per_asset[acc.asset] += acc.balance
            assert acc.balance == (sums.get(acc.id) or 0), acc.code
            assert acc.balance >= 0 or acc.allow_negative, acc.code
            assert acc.balance == self.expected[acc.id], acc.code
        assert not any(per_asset.values()), dict(per_asset)
        assert problems == [], problems


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = hsettings(max_examples=int(os.environ.get("LEDGER_EXAMPLES", "25")),
                                       stateful_step_count=12, deadline=None)


# -- tampering -----------------------------------------------------------------------------------

@pytest.fixture
def filled():
    store = Db()

    async def fill():
        async with store.db() as s, s.begin():
            op = (await ledger.system(s, "operator", "ZMW")).id
            a = (await ledger.account(s, "user:a:ZMW", "money", "ZMW")).id
            b = (await ledger.account(s, "user:b:ZMW", "money", "ZMW")).id
        for n in range(5):
            await _post(store.db, f"k{n}", "deposit", [Leg(op, -1000), Leg(a, 1000)])
        await _post(store.db, "t1", "transfer", [Leg(a, -300), Leg(b, 300)])
        return a, b
    ids = store.run(fill())
    yield store, ids
    store.close()


def _verify(store) -> list[str]:
    async def go():
        async with store.db() as s:
            return [str(p) for p in await ledger.verify(s)]
    return store.run(go())


def _tamper(store, statement) -> None:
    async def go():
        async with store.db() as s, s.begin():
            await s.execute(statement)
    store.run(go())


def test_clean_ledger_verifies(filled):
    store, _ = filled
    assert _verify(store) == []


def test_edited_posting_is_named(filled):
    store, (a, b) = filled
    _tamper(store, update(Posting).where(Posting.entry_id == 3, Posting.account_id == a).values(amount=5000))
    problems = _verify(store)
    assert problems[0].startswith("entry 3: "), problems
    assert any("account user:a:ZMW: balance" in p for p in problems)


def test_edited_balance_is_named(filled):
    store, (a, b) = filled
    _tamper(store, update(Account).where(Account.id == b).values(balance=999999))
    assert _verify(store) == ["account user:b:ZMW: balance 999999 but postings sum to 300"]


def test_cli_ledger_verify_exits_1_and_names_the_entry(filled, tmp_path):
    import subprocess
    import sys

    store, (a, b) = filled
    env = {**os.environ, "DATABASE_URL": store.url, "ENERLECTRA_HOME": str(tmp_path)}
    if store.schema:
        env["ENERLECTRA_DB_SCHEMA"] = store.schema
    ok = subprocess.run([sys.executable, "-m", "ussd_app.cli", "ledger", "verify"], env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "ok: 6 entries" in ok.stdout, ok.stdout + ok.stderr
    _tamper(store, update(Posting).where(Posting.entry_id == 6, Posting.account_id == b).values(amount=301))
    bad = subprocess.run([sys.executable, "-m", "ussd_app.cli", "ledger", "verify"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith("entry 6: ")
