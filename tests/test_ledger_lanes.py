"""The chain in lanes: postings that run at once take different lanes, each lane verifies on its own, and
tampering on any lane is still caught and named (an anchor names every lane's head)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, select, update

from enerlectra.db.migrate import downgrade
from enerlectra.db.models import JournalEntry, LedgerHead, Posting
from enerlectra.domain import ledger
from enerlectra.domain.ledger import Leg
from tests.databases import pg_url
from tests.helpers import committed_only
from tests.test_ledger import Db, _fix_balances, _tamper, _verify

# The ledger below: entries 1-5, each posted on the lane named (the session's lane preference), a -> b 10 each.
LANES = [1, 2, 1, 2, 3]


async def _post_on(db, lane: int, key: str, legs: list[Leg]) -> ledger.Posted:
    async with committed_only(db) as s:
        s.info[ledger.LANE] = lane
        return await ledger.post(s, key, "transfer", legs)


@pytest.fixture
def laned():
    store = Db()

    async def fill():
        async with committed_only(store.db) as s:
            op = (await ledger.system(s, "operator", "ZMW")).id
            a = (await ledger.account(s, "user:a:ZMW", "money", "ZMW")).id
            b = (await ledger.account(s, "user:b:ZMW", "money", "ZMW")).id
        await _post_on(store.db, 1, "fund", [Leg(op, -1000), Leg(a, 1000)])
        for n, lane in enumerate(LANES[1:], start=2):
            await _post_on(store.db, lane, f"t{n}", [Leg(a, -10), Leg(b, 10)])
        return a, b
    ids = store.run(fill())
    yield store, ids
    store.close()


def _anchor(store) -> ledger.Anchor:
    async def go():
        async with store.db() as s:
            return await ledger.head_anchor(s)
    return store.run(go())


def _rows(store):
    async def go():
        async with store.db() as s:
            return (await s.execute(select(JournalEntry.id, JournalEntry.lane, JournalEntry.seq)
                                    .order_by(JournalEntry.id))).all()
    return store.run(go())


def _point_head(lane: int, entry_id: int | None):
    """The attacker's head fix: lane `lane` ends at entry `entry_id` (None: the lane is empty)."""
    if entry_id is None:
        return update(LedgerHead).where(LedgerHead.id == lane).values(seq=0, last_entry_id=0, last_mac=ledger.GENESIS)
    entry = select(JournalEntry).where(JournalEntry.id == entry_id).subquery()
    return update(LedgerHead).where(LedgerHead.id == lane).values(
        seq=select(entry.c.seq).scalar_subquery(), last_entry_id=entry_id,
        last_mac=select(entry.c.mac).scalar_subquery())


def test_each_entry_sits_on_its_lane_gapless_and_verifies(laned):
    store, _ = laned
    assert [tuple(r) for r in _rows(store)] == [(1, 1, 1), (2, 2, 1), (3, 1, 2), (4, 2, 2), (5, 3, 1)]
    anchor = _anchor(store)
    assert anchor.lanes == ((1, 2), (2, 2), (3, 1)) and anchor.seq == 5 and anchor.entry_id == 5
    assert ledger.Anchor.parse(str(anchor)) == anchor and " lanes=1:2,2:2,3:1" in str(anchor)
    assert _verify(store) == [] and _verify(store, anchor) == []


def delete_lane_tail_fix_head(store, a, b):
    _tamper(store, delete(Posting).where(Posting.entry_id == 4), delete(JournalEntry).where(JournalEntry.id == 4),
            _point_head(2, 2))
    _fix_balances(store)


def delete_lane_tail(store, a, b):
    _tamper(store, delete(Posting).where(Posting.entry_id == 4), delete(JournalEntry).where(JournalEntry.id == 4))
    _fix_balances(store)


def edit_amount_on_lane_2(store, a, b):
    _tamper(store, update(Posting).where(Posting.entry_id == 4, Posting.account_id == a).values(amount=-500),
            update(Posting).where(Posting.entry_id == 4, Posting.account_id == b).values(amount=500))
    _fix_balances(store)


def move_entry_to_another_lane(store, a, b):
    """Entry 5 leaves lane 3 for the end of lane 2, linked after entry 4; both heads fixed to match."""
    _tamper(store, update(JournalEntry).where(JournalEntry.id == 5).values(
        lane=2, seq=3, prev_mac=select(JournalEntry.mac).where(JournalEntry.id == 4).scalar_subquery()),
        _point_head(3, None), _point_head(2, 5))


def reorder_within_a_lane(store, a, b):
    """Entries 2 and 4 swap places on lane 2 (seq is unique per lane: one is parked first)."""
    _tamper(store, update(JournalEntry).where(JournalEntry.id == 2).values(seq=99),
            update(JournalEntry).where(JournalEntry.id == 4).values(seq=1),
            update(JournalEntry).where(JournalEntry.id == 2).values(seq=2), _point_head(2, 2))


def remove_a_whole_lane(store, a, b):
    _tamper(store, delete(Posting).where(Posting.entry_id == 5), delete(JournalEntry).where(JournalEntry.id == 5),
            _point_head(3, None))
    _fix_balances(store)


MAC = ": MAC does not match"
LANE_TAMPERINGS = [   # (tampering, anchored before it?, the problems verify lists, each a prefix, in order)
    (delete_lane_tail, False, ["ledger head 2: says seq 2 (entry 4), the chain ends at seq 1: entries were removed"]),
    (delete_lane_tail_fix_head, False, []),               # the database alone cannot tell: the anchor can
    (delete_lane_tail_fix_head, True, ["anchor: lane 2 seq 2 is gone: the lane ends at seq 1"]),
    (remove_a_whole_lane, True, ["anchor: lane 3 seq 1 is gone: the lane ends at seq 0"]),
    (edit_amount_on_lane_2, False, ["entry 4" + MAC]),
    (move_entry_to_another_lane, False, ["entry 5" + MAC]),
    (move_entry_to_another_lane, True, ["entry 5" + MAC, "anchor: lane 3 seq 1 is gone: the lane ends at seq 0"]),
    (reorder_within_a_lane, False, ["entry 4: does not follow the entry before it", "entry 4" + MAC,
                                    "entry 2: does not follow the entry before it", "entry 2" + MAC]),
    (reorder_within_a_lane, True, ["entry 4: does not follow the entry before it", "entry 4" + MAC,
                                   "entry 2: does not follow the entry before it", "entry 2" + MAC,
                                   "anchor: the entries at lanes:seqs 1:2,2:2,3:1 carry other MACs"]),
]


@pytest.mark.parametrize("tamper, anchored, expected", LANE_TAMPERINGS,
                         ids=[f"{t.__name__}{'-anchored' if anchored else ''}" for t, anchored, _ in LANE_TAMPERINGS])
def test_tampering_on_any_lane_is_named(laned, tamper, anchored, expected):
    store, (a, b) = laned
    anchor = _anchor(store) if anchored else None
    tamper(store, a, b)
    problems = _verify(store, anchor)
    assert len(problems) == len(expected), problems
    for problem, prefix in zip(problems, expected, strict=True):
        assert problem.startswith(prefix), (problem, prefix)


def test_an_anchor_from_before_lanes_still_verifies(laned):
    """Lane 1 keeps the single chain's format and MACs: an anchor line written then names lane 1's head."""
    store, _ = laned
    old_style = ledger.Anchor(2, 3, store.run(_scalar(store, select(JournalEntry.mac).where(JournalEntry.id == 3))),
                              "")
    assert str(old_style).startswith("ledger-anchor seq=2 entry=3 mac=") and "lanes" not in str(old_style)
    assert _verify(store, ledger.Anchor.parse(str(old_style))) == []


async def _scalar(store, query):
    async with store.db() as s:
        return await s.scalar(query)


@pytest.mark.skipif(not pg_url(), reason="row locks: PostgreSQL only (SQLite has one writer and uses lane 1)")
def test_a_posting_takes_a_free_lane_instead_of_waiting_for_a_held_one():
    """One transaction holds lane 1 (posted, not committed); another posts at once on another lane."""
    store = Db()

    async def run():
        async with committed_only(store.db) as s:
            op = (await ledger.system(s, "operator", "ZMW")).id
            clearing = (await ledger.system(s, "clearing:mtn", "ZMW")).id    # no account shared with `holding`
            a, b = [(await ledger.account(s, f"user:{n}:ZMW", "money", "ZMW")).id for n in "ab"]
        async with committed_only(store.db) as holding:
            first = await ledger.post(holding, "held", "deposit", [Leg(op, -5), Leg(a, 5)])
            second = await asyncio.wait_for(_post_on(store.db, 1, "other", [Leg(clearing, -7), Leg(b, 7)]), 30)
            again = await ledger.post(holding, "held-2", "deposit", [Leg(op, -1), Leg(a, 1)])
        async with store.db() as s:
            lanes = dict((await s.execute(select(JournalEntry.idempotency_key, JournalEntry.lane))).all())
            return first, second, again, lanes, await ledger.verify(s)
    try:
        first, second, again, lanes, problems = store.run(run())     # `second` did not wait for `holding`
    finally:
        store.close()
    assert first.created and second.created and again.created
    assert lanes["held"] == lanes["held-2"] == 1 and lanes["other"] != 1       # a transaction keeps its lane
    assert problems == []


def test_downgrading_below_lanes_is_refused_once_other_lanes_hold_entries(laned):
    store, _ = laned
    with pytest.raises(RuntimeError, match="entries on lanes other than 1"):
        downgrade(store.url, "0014", schema=store.schema)
    assert _verify(store) == []                     # refused before anything changed


@pytest.mark.skipif(not pg_url(), reason="a wait on another transaction's key: PostgreSQL only")
def test_the_same_key_posted_at_the_same_moment_is_the_first_entry_not_an_error():
    """The second of two transactions posting one key waits on the first's uncommitted entry; once it commits,
    the second gets that entry as a repeat (the INSERT does nothing, ledger_pg._WRITE), never a unique-key
    error and never a second posting."""
    from sqlalchemy import func, select, text

    from enerlectra.db.models import JournalEntry

    store = Db()

    async def run():
        async with committed_only(store.db) as s:
            op = (await ledger.system(s, "operator", "ZMW")).id
            clearing = (await ledger.system(s, "clearing:mtn", "ZMW")).id
            a, b = [(await ledger.account(s, f"user:{n}:ZMW", "money", "ZMW")).id for n in "ab"]
        async with store.db() as first:
            await first.begin()
            won = await ledger.post(first, "same", "deposit", [Leg(op, -5), Leg(a, 5)])
            async with store.db() as second:
                await second.begin()
                pid = await second.scalar(text("SELECT pg_backend_pid()"))
                racing = asyncio.ensure_future(ledger.post(second, "same", "deposit", [Leg(clearing, -5), Leg(b, 5)]))
                async with store.db() as watch:       # until the second waits on the first's key
                    while not await watch.scalar(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                                      "WHERE pid = :pid"), {"pid": pid}):
                        await asyncio.sleep(0.05)
                await first.commit()
                assert await racing == ledger.Posted(won.entry_id, created=False)
                await second.commit()
        async with store.db() as s:
            assert await s.scalar(select(func.count()).select_from(JournalEntry)
                                  .where(JournalEntry.idempotency_key == "same")) == 1
            assert (await ledger.account(s, "user:b:ZMW", "money", "ZMW")).balance == 0
    try:
        store.run(run())
    finally:
        store.close()
