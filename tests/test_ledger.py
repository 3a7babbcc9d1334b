"""The ledger proves itself: a hypothesis state machine over deposits, transfers, fees, retries and
concurrent transfers, checked after every step; tampering is caught and named."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import stat
import tempfile
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.migrate import downgrade, upgrade
from enerlectra.db.models import Account, JournalEntry, LedgerHead, Posting, User
from enerlectra.domain import ledger, ledger_key
from enerlectra.domain.ledger import InsufficientFunds, Leg, Unbalanced
from enerlectra.settings import Settings
from tests.databases import pg_url
from tests.helpers import committed_only

USERS = 4


class Db:
    """A fresh migrated database (SQLite file, or a PostgreSQL schema) and a loop of its own."""

    def __init__(self, revision: str = "head"):
        self.loop = asyncio.new_event_loop()
        self.url, self.schema = pg_url(), None
        if self.url:
            self.schema = f"l_{uuid.uuid4().hex[:12]}"
            self.run(self._admin(f'CREATE SCHEMA "{self.schema}"'))
        else:
            self.tmp = tempfile.TemporaryDirectory()
            self.url = f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'ledger.sqlite3'}"
        upgrade(self.url, revision, schema=self.schema)
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
    async with committed_only(db) as s:
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
            async with committed_only(self.store.db) as s:
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
# An attacker with the database but not the key. The ledger filled below (ids = seqs on a fresh database):
#   entry 1: operator -> c 1000      entries 2-5: operator -> a 1000 each      entry 6: a -> b 300
# a, b and c belong to three users; each tampering keeps the balances equal to the postings (the attacker
# fixes them too), so only the MAC chain, the sequence, the head or the anchor can catch it.

MAC_BAD = "MAC does not match"


@pytest.fixture
def filled():
    store = Db()

    async def fill():
        async with committed_only(store.db) as s:
            owners = [User(msisdn=f"+26097100000{n}", country="ZM", currency="ZMW", language="en", name=f"U{n}",
                           pin_hash="x") for n in range(3)]
            s.add_all(owners)
            await s.flush()
            op = (await ledger.system(s, "operator", "ZMW")).id
            a, b, c = [(await ledger.user_money(s, u.id, "ZMW")).id for u in owners]
        await _post(store.db, "k0", "deposit", [Leg(op, -1000), Leg(c, 1000)])
        for n in range(1, 5):
            await _post(store.db, f"k{n}", "deposit", [Leg(op, -1000), Leg(a, 1000)])
        await _post(store.db, "t1", "transfer", [Leg(a, -300), Leg(b, 300)])
        return a, b
    ids = store.run(fill())
    yield store, ids
    store.close()


def _verify(store, anchor: ledger.Anchor | None = None) -> list[str]:
    async def go():
        async with store.db() as s:
            return [str(p) for p in await ledger.verify(s, anchor=anchor)]
    return store.run(go())


def _anchor(store) -> ledger.Anchor:
    async def go():
        async with store.db() as s:
            return await ledger.head_anchor(s)
    return store.run(go())


def _tamper(store, *statements) -> None:
    async def go():
        async with committed_only(store.db) as s:
            for statement in statements:
                await s.execute(statement)
    store.run(go())


def _fix_balances(store) -> None:
    """What a careful attacker does after moving money: make every balance the sum of its postings."""
    sums = select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.account_id == Account.id)
    _tamper(store, update(Account).values(balance=sums.scalar_subquery()))


def _reseal_from(store, seq: int, mac) -> None:
    """Recompute prev_mac/mac from `seq` to the end and the head, as the attacker can: `mac(content)`."""
    async def go():
        async with committed_only(store.db) as s:
            accounts = {a.id: a for a in (await s.scalars(select(Account))).all()}
            prev = await s.scalar(select(JournalEntry.mac).where(JournalEntry.seq == seq - 1)) or ledger.GENESIS
            for e in (await s.scalars(select(JournalEntry).where(JournalEntry.seq >= seq)
                                      .order_by(JournalEntry.seq))).all():
                postings = (await s.scalars(select(Posting).where(Posting.entry_id == e.id))).all()
                e.prev_mac, e.mac = prev, mac(ledger.sealed_content(
                    prev, e.seq, e.idempotency_key, e.kind, e.memo, e.created_at,
                    [(p.account_id, p.asset, p.amount) for p in postings], accounts))
                prev = e.mac
                await s.execute(update(LedgerHead).where(LedgerHead.id == 1)
                                .values(seq=e.seq, last_entry_id=e.id, last_mac=e.mac))
    store.run(go())


def _edit_entry_3(store, a):
    _tamper(store, update(Posting).where(Posting.entry_id == 3, Posting.account_id == a).values(amount=5000),
            update(Posting).where(Posting.entry_id == 3, Posting.account_id != a).values(amount=-5000))
    _fix_balances(store)


def edit_amount(store, a, b):
    _edit_entry_3(store, a)


def edit_amount_rechain_unkeyed(store, a, b):
    _edit_entry_3(store, a)
    _reseal_from(store, 3, lambda content: hashlib.sha256(content).hexdigest())


def edit_amount_rechain_wrong_key(store, a, b):
    _edit_entry_3(store, a)
    _reseal_from(store, 3, lambda content: ledger.seal(b"a key the attacker made up, 32 chars", content))


def _delete(store, entry_id: int):
    _tamper(store, delete(Posting).where(Posting.entry_id == entry_id),
            delete(JournalEntry).where(JournalEntry.id == entry_id))
    _fix_balances(store)


def delete_entry_4(store, a, b):
    _delete(store, 4)


def delete_entry_4_renumber(store, a, b):
    _delete(store, 4)
    _tamper(store, update(JournalEntry).where(JournalEntry.seq > 4).values(seq=JournalEntry.seq - 1),
            update(LedgerHead).where(LedgerHead.id == 1).values(seq=5))


def delete_last_entry(store, a, b):
    _delete(store, 6)


def delete_last_entry_fix_head(store, a, b):
    _delete(store, 6)
    _tamper(store, update(LedgerHead).where(LedgerHead.id == 1)
            .values(seq=5, last_entry_id=5,
                    last_mac=select(JournalEntry.mac).where(JournalEntry.id == 5).scalar_subquery()))


def _swap(store, column: str, a: int, b: int):
    async def values():
        async with store.db() as s:
            return dict((await s.execute(select(Account.id, getattr(Account, column))
                                         .where(Account.id.in_([a, b])))).all())
    was = store.run(values())
    parked = "parked:x" if column == "code" else None        # codes are unique: park one first
    _tamper(store, update(Account).where(Account.id == a).values({column: parked}),
            update(Account).where(Account.id == b).values({column: was[a]}),
            update(Account).where(Account.id == a).values({column: was[b]}))


def swap_owners(store, a, b):
    _swap(store, "user_id", a, b)


def swap_codes(store, a, b):
    _swap(store, "code", a, b)


def rewrite_timestamp(store, a, b):
    _tamper(store, update(JournalEntry).where(JournalEntry.id == 4)
            .values(created_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))


def rewrite_tail_wrong_key(store, a, b):
    edit_amount_rechain_wrong_key(store, a, b)


MAC = f": {MAC_BAD}"
HEAD_SHORT = "ledger head: says seq 6 (entry 6), the chain ends at seq 5: entries were removed from the end"
ANCHOR_GONE = "anchor: seq 6 (entry 6) is gone: the chain ends at seq 5, entries were removed from the end"
ANCHOR_REWRITTEN = "anchor: seq 6 is entry 6 with another MAC than the anchored entry 6: the chain was rewritten"

TAMPERINGS = [   # (tampering, with the anchor taken before it?, the problems verify lists, each a prefix, in order)
    (edit_amount, False, ["entry 3" + MAC]),
    (edit_amount_rechain_unkeyed, False, ["entry 3" + MAC, "entry 4" + MAC, "entry 5" + MAC, "entry 6" + MAC]),
    (edit_amount_rechain_wrong_key, False, ["entry 3" + MAC, "entry 4" + MAC, "entry 5" + MAC, "entry 6" + MAC]),
    (delete_entry_4, False, ["entry 5: seq 5 follows seq 3: 1 entry before it removed"]),
    (delete_entry_4_renumber, False, ["entry 5: does not follow the entry before it", "entry 5" + MAC,
                                      "entry 6" + MAC]),
    (delete_last_entry, False, [HEAD_SHORT]),
    (delete_last_entry_fix_head, False, []),          # the database alone cannot tell: the anchor can
    (delete_last_entry_fix_head, True, [ANCHOR_GONE]),
    (rewrite_tail_wrong_key, True, ["entry 3" + MAC, "entry 4" + MAC, "entry 5" + MAC, "entry 6" + MAC,
                                    ANCHOR_REWRITTEN]),
    (swap_owners, False, ["entry 2" + MAC, "entry 3" + MAC, "entry 4" + MAC, "entry 5" + MAC, "entry 6" + MAC]),
    (swap_codes, False, ["entry 2" + MAC, "entry 3" + MAC, "entry 4" + MAC, "entry 5" + MAC, "entry 6" + MAC]),
    (rewrite_timestamp, False, ["entry 4" + MAC]),
]


def test_clean_ledger_verifies(filled):
    store, _ = filled
    assert _verify(store) == []
    assert _verify(store, _anchor(store)) == []


@pytest.mark.parametrize("tamper, anchored, expected", TAMPERINGS,
                         ids=[f"{t.__name__}{'-anchored' if anchored else ''}" for t, anchored, _ in TAMPERINGS])
def test_tampering_is_named(filled, tamper, anchored, expected):
    store, (a, b) = filled
    anchor = _anchor(store) if anchored else None
    tamper(store, a, b)
    problems = _verify(store, anchor)
    assert len(problems) == len(expected), problems
    for problem, prefix in zip(problems, expected, strict=True):
        assert problem.startswith(prefix), (problem, prefix)
def test_a_swap_touching_many_entries_lists_the_first_ones_and_counts_the_rest(filled):
    store, (a, b) = filled

    async def more():
        op = await _scalar(store, select(Account.id).where(Account.code == "system:operator:ZMW"))
        for n in range(55):
            await _post(store.db, f"more-{n}", "deposit", [Leg(op, -1), Leg(a, 1)])
    store.run(more())
    swap_owners(store, a, b)                     # entries 2..61 touched a or b: 60 bad MACs
    problems = _verify(store)
    assert [p.split(":")[0] for p in problems[:ledger.MAX_ENTRY_PROBLEMS]] == [f"entry {n}" for n in range(2, 52)]
    assert problems[ledger.MAX_ENTRY_PROBLEMS:] == ["ledger: 10 more problems in later entries, not listed"]


def test_edited_balance_is_named(filled):
    store, (a, b) = filled
    _tamper(store, update(Account).where(Account.id == b).values(balance=999999))
    code = store.run(_scalar(store, select(Account.code).where(Account.id == b)))
    assert _verify(store) == [f"account {code}: balance 999999 but postings sum to 300"]


async def _scalar(store, query):
    async with store.db() as s:
        return await s.scalar(query)


def _cli(store, home: Path, *args: str, key: str | None = None):
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": store.url, "ENERLECTRA_HOME": str(home)}
    env.pop("LEDGER_KEY", None)
    if key is not None:
        env["LEDGER_KEY"] = key
    if store.schema:
        env["ENERLECTRA_DB_SCHEMA"] = store.schema
    return subprocess.run([sys.executable, "-m", "ussd_app.cli", "ledger", *args], env=env,
                          capture_output=True, text=True)


def test_cli_ledger_verify_exits_1_and_names_the_entry(filled, tmp_path):
    store, (a, b) = filled
    home = tmp_path / "home"              # where the test's key lives (conftest.ledger_key)
    ok = _cli(store, home, "verify")
    assert ok.returncode == 0 and "ok: 6 entries" in ok.stdout, ok.stdout + ok.stderr
    _tamper(store, update(Posting).where(Posting.entry_id == 6, Posting.account_id == b).values(amount=301))
    bad = _cli(store, home, "verify")
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0] == "entry 6: postings do not balance: {'ZMW': 1}"
    assert bad.stdout.splitlines()[1].startswith("entry 6: MAC does not match")


def store_key(home: Path) -> str:
    return (home / "ledger.key").read_text().strip()


def test_cli_anchor_catches_a_truncated_tail(filled, tmp_path):
    store, _ = filled
    home = tmp_path / "home"
    anchored = _cli(store, home, "anchor")
    assert anchored.returncode == 0, anchored.stderr
    line = anchored.stdout.strip()
    assert line == str(_anchor(store)) and line.startswith("ledger-anchor seq=6 entry=6 mac=")
    delete_last_entry_fix_head(store, None, None)
    elsewhere = _cli(store, tmp_path / "another-home", "verify", key=store_key(home))
    assert elsewhere.returncode == 0                  # consistent inside the database alone
    for args in (("verify", "--anchor", line), ("verify",)):      # the home recorded the anchor too
        bad = _cli(store, home, *args)
        assert bad.returncode == 1
        assert bad.stdout.splitlines() == [ANCHOR_GONE]


def test_cli_verify_with_another_key_names_the_first_entry(filled, tmp_path):
    store, _ = filled
    bad = _cli(store, tmp_path / "home", "verify", key="another-installation-key-" + "0" * 32)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith("entry 1: MAC does not match"), bad.stdout


# -- posting under load, and the key -------------------------------------------------------------

def test_many_concurrent_posts_verify_clean_and_gapless():
    store = Db()

    async def run():
        async with committed_only(store.db) as s:
            op = (await ledger.system(s, "operator", "ZMW")).id
            users = [(await ledger.account(s, f"user:{n}:ZMW", "money", "ZMW")).id for n in range(4)]
        await asyncio.gather(*(_post(store.db, f"fund-{u}", "deposit", [Leg(op, -10_000), Leg(u, 10_000)])
                               for u in users))

        async def client(c: int):
            for n in range(10):
                src, dst = users[(c + n) % 4], users[(c + n + 1) % 4]
                await _post(store.db, f"c{c}-{n}", "transfer", [Leg(src, -7), Leg(dst, 7)])
        await asyncio.gather(*(client(c) for c in range(8)))
        async with store.db() as s:
            seqs = defaultdict(list)          # lane -> its seqs (PostgreSQL spreads them over free lanes)
            for lane, seq in (await s.execute(select(JournalEntry.lane, JournalEntry.seq)
                                              .order_by(JournalEntry.lane, JournalEntry.seq))).all():
                seqs[lane].append(seq)
            heads = dict((await s.execute(select(LedgerHead.id, LedgerHead.seq))).all())
            return seqs, heads, await ledger.verify(s), await ledger.verify(s, anchor=await ledger.head_anchor(s))
    try:
        seqs, heads, problems, anchored = store.run(run())
    finally:
        store.close()
    assert all(lane_seqs == list(range(1, len(lane_seqs) + 1)) for lane_seqs in seqs.values())   # gapless per lane
    assert {lane: len(lane_seqs) for lane, lane_seqs in seqs.items()} == {l: n for l, n in heads.items() if n}
    assert sum(heads.values()) == 84
    assert problems == [] and anchored == []


def test_posting_without_a_key_refuses_and_writes_nothing():
    store = Db()

    async def run():
        async with committed_only(store.db) as s:
            op, acc = (await ledger.system(s, "operator", "ZMW")).id, (await ledger.account(
                s, "user:1:ZMW", "money", "ZMW")).id
        ledger.use_key(None)
        with pytest.raises(ledger.NoKey):
            await _post(store.db, "k", "deposit", [Leg(op, -5), Leg(acc, 5)])
        async with store.db() as s:
            return await s.scalar(select(func.count()).select_from(JournalEntry))
    try:
        assert store.run(run()) == 0
    finally:
        store.close()


@pytest.mark.parametrize("env, same_as_file", [({}, True), ({"LEDGER_KEY": "k" * 40}, False)])
def test_key_from_env_or_generated_once_with_mode_0600(tmp_path, caplog, env, same_as_file):
    caplog.set_level(logging.DEBUG)
    settings = Settings.from_env({"ENERLECTRA_HOME": str(tmp_path / "h"), **env})
    first, again = ledger_key.load(settings), ledger_key.load(settings)
    assert first == again and len(first) >= ledger_key.MIN_LENGTH
    key_file = tmp_path / "h" / "ledger.key"
    assert key_file.exists() == same_as_file
    if same_as_file:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.read_text().strip().encode() == first
    else:
        assert first == b"k" * 40
    assert first.decode() not in caplog.text and first.decode() not in repr(settings)


def test_a_short_ledger_key_is_refused(tmp_path):
    with pytest.raises(ledger_key.BadKey):
        ledger_key.load(Settings.from_env({"ENERLECTRA_HOME": str(tmp_path), "LEDGER_KEY": "short"}))


def test_processes_starting_together_share_one_generated_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(home=tmp_path / "together")
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: ledger_key.load(settings), range(16)))
    assert len(keys) == 1 and sorted(p.name for p in (tmp_path / "together").iterdir()) == ["ledger.key"]


# -- the migration seals what an older release posted ---------------------------------------------

def _old_chain(n: int, source: int, target: int, break_at: int | None = None) -> list[tuple[dict, list]]:
    """Entries and their legs as revisions 0003-0010 wrote them: an unkeyed SHA-256 chain."""
    chain, prev = [], ledger.GENESIS
    for i in range(1, n + 1):
        legs = [(source, "ZMW", -100 * i), (target, "ZMW", 100 * i)]
        content = json.dumps({"key": f"old-{i}", "kind": "deposit", "memo": "", "postings": sorted(legs)},
                             separators=(",", ":"), sort_keys=True)
        mac = hashlib.sha256((prev + content).encode()).hexdigest()
        chain.append(({"idempotency_key": f"old-{i}", "kind": "deposit", "memo": "edited" if i == break_at else "",
                       "prev_hash": prev, "hash": mac, "created_at": datetime(2026, 1, 1, 12, i, tzinfo=timezone.utc)},
                      legs))
        prev = mac
    return chain


async def _insert(conn, sql: str, values: dict) -> int:
    return (await conn.execute(text(sql + " RETURNING id"), values)).scalar_one()


def _old_ledger(n: int, break_at: int | None = None) -> Db:
    """A database at revision 0010 holding `n` entries an older release posted."""
    store = Db(revision="0010")
    total = sum(100 * i for i in range(1, n + 1))

    async def fill():
        async with store.engine.begin() as conn:
            account = "INSERT INTO accounts (code, kind, asset, allow_negative, balance) VALUES (:c, :k, 'ZMW', :n, :b)"
            source = await _insert(conn, account, {"c": "system:operator:ZMW", "k": "operator", "n": True, "b": -total})
            target = await _insert(conn, account, {"c": "user:x:ZMW", "k": "money", "n": False, "b": total})
            for entry, legs in _old_chain(n, source, target, break_at):
                entry_id = await _insert(conn, "INSERT INTO journal_entries (idempotency_key, kind, memo, prev_hash, "
                                         "hash, created_at) VALUES (:idempotency_key, :kind, :memo, :prev_hash, "
                                         ":hash, :created_at)", entry)
                await conn.execute(text("INSERT INTO postings (entry_id, account_id, asset, amount) "
                                        "VALUES (:e, :a, :s, :m)"),
                                   [{"e": entry_id, "a": a, "s": s, "m": m} for a, s, m in legs])
            await conn.execute(text("UPDATE ledger_head SET last_entry_id = :id, last_hash = :hash"),
                               {"id": entry_id, "hash": entry["hash"]})
        return source, target
    store.accounts = store.run(fill())
    return store


def test_upgrade_numbers_and_seals_entries_an_older_release_posted():
    store = _old_ledger(7)
    try:
        upgrade(store.url, schema=store.schema)
        assert _verify(store) == []
        source, target = store.accounts
        store.run(_post(store.db, "new-1", "deposit", [Leg(source, -5), Leg(target, 5)]))
        async def seqs():
            async with store.db() as s:
                return (await s.scalars(select(JournalEntry.seq).order_by(JournalEntry.id))).all()
        assert store.run(seqs()) == list(range(1, 9)) and _verify(store) == []
    finally:
        store.close()


def test_upgrade_stops_at_a_broken_old_chain_and_seals_nothing():
    store = _old_ledger(7, break_at=5)
    try:
        with pytest.raises(RuntimeError, match="entry 5: the old hash chain is broken"):
            upgrade(store.url, schema=store.schema)
        async def old_hash():
            async with store.engine.connect() as conn:
                return (await conn.execute(text("SELECT hash FROM journal_entries WHERE idempotency_key = 'old-1'"))
                        ).scalar()
        assert store.run(old_hash()) == _old_chain(7, *store.accounts)[0][0]["hash"]   # the old chain, at 0010
    finally:
        store.close()


def test_migration_downgrades_and_upgrades_again():
    store = Db()
    try:
        downgrade(store.url, "0010", schema=store.schema)
        upgrade(store.url, schema=store.schema)
        store.run(_post(store.db, "after", "deposit", []))
        assert _verify(store) == []
    finally:
        store.close()
