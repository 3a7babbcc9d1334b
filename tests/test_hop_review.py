"""Review of the hop's store (issue 18, branch hopcpu): the save script, the lock and the replay cache under
lock expiry, Redis losing its data or scripts, concurrent hops of one session, an END's record. A table of
races, each run on real Redis (embedded, or REDIS_URL): what the session's record holds afterwards, and what a
retransmission of the newest hop gets."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from enerlectra.db.models import Payment, User
from enerlectra.ussd.ends import ends_key
from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Session, UssdReply
from tests import test_session_save_script as saves
from tests.helpers import committed_only
from tests.test_money_integrity import books_ok
from tests.test_wallet import fund, register
from ussd_app import appkeys
from ussd_app.engine.store import SessionStore
from ussd_app.engine.tree import MenuTree

MSISDN = "+260971000001"
store = saves.store          # the fixture: a SessionStore on real Redis (5 s lock)
_end = saves._end


def _session(sid: str, state: str) -> Session:
    return Session(id=sid, msisdn=MSISDN, country="ZM", state=state, lang="en", user_id=7)


async def _expire_lock(store: SessionStore, sid: str) -> None:
    """What a lock timing out does (a hop stalled past its renewals): the key is gone."""
    await store.redis.delete(store._key(sid, "lock"))


async def _hop(store: SessionStore, sid: str, hop: str, state: str, reply: UssdReply) -> None:
    loaded = await store.acquire(sid, hop, None, MSISDN)
    await store.save(_session(sid, state), hop, reply, loaded.token, resumable=False, recent=loaded.recent,
                     seen=loaded.seen)


PAID = UssdReply("Paid K5.00. Thank you.", end=True)
PIN = UssdReply("Enter your PIN", end=False)
CONFIRM = UssdReply("Pay K5.00? 1 Yes", end=False)

# (label, what happens between the slow hop's acquire and its save, whose record stands, the hop whose
#  retransmission must get its own reply back)
STALE = [
    ("the lock expired, nobody came: the slow hop's save stands", "nothing", "slow", "h1"),
    ("Redis lost its data mid-hop: the slow hop's save restores the session", "flushall", "slow", "h1"),
    ("a newer hop ran and ENDed the session: its END stands", "newer_end", "newer", "h2"),
    ("a newer hop ran and moved on: its record stands", "newer_move", "newer", "h2"),
]


@pytest.mark.parametrize("label,between,stands,resent", STALE, ids=[s[0] for s in STALE])
async def test_a_save_after_its_lock_expired_never_overwrites_a_newer_hops_record(store, label, between,
                                                                                   stands, resent):
    sid = f"stale-{between}"
    await _hop(store, sid, "h0", "wallet_sendpin", PIN)
    slow = await store.acquire(sid, "h1", None, MSISDN)
    await _expire_lock(store, sid)
    if between == "flushall":
        await store.redis.flushall()
    elif between == "newer_end":
        await _hop(store, sid, "h1", "wallet_sendpin", CONFIRM)      # the retransmission of h1 ran h1 again
        await _hop(store, sid, "h2", "wallet_sendpin", PAID)         # then the user's next hop: the payment
    elif between == "newer_move":
        await _hop(store, sid, "h1", "wallet_sendpin", CONFIRM)
        await _hop(store, sid, "h2", "wallet_sendamount", UssdReply("Amount?", end=False))
    await store.save(_session(sid, "wallet_sendconfirm"), "h1", CONFIRM, slow.token, resumable=False,
                     recent=slow.recent, seen=slow.seen)
    again = await store.acquire(sid, resent, None, MSISDN)
    try:
        assert again.replay is not None, "the newest hop's retransmission would run its step again"
        if stands == "slow":
            assert again.replay == CONFIRM and again.session.state == "wallet_sendconfirm"
        elif between == "newer_end":
            assert again.replay == PAID and again.ended is not None and again.session is None
        else:
            assert again.session.state == "wallet_sendamount"
    finally:
        await store.release(sid, again.token)


async def test_a_stale_save_leaves_the_lock_of_the_hop_holding_it(store):
    """The slow hop's lock expired and another hop holds the session now: the slow save releases nothing."""
    sid = "stale-held"
    await _hop(store, sid, "h0", "wallet_sendpin", PIN)
    slow = await store.acquire(sid, "h1", None, MSISDN)
    await _expire_lock(store, sid)
    holder = await store.acquire(sid, "h1", None, MSISDN)
    await store.save(_session(sid, "wallet_sendconfirm"), "h1", CONFIRM, slow.token, resumable=False,
                     recent=slow.recent, seen=slow.seen)
    assert await store.redis.get(store._key(sid, "lock")) == holder.token.encode()
    await store.release(sid, holder.token)


async def test_a_save_run_twice_by_a_client_retry_writes_once_and_pushes_one_end_record(store, redis_prefix):
    """The Redis client resends a call whose reply was lost: the save script then runs a second time."""
    sid = "saved-twice"
    loaded = await store.acquire(sid, "h1", None, MSISDN)
    written = [await store.save(_session(sid, "wallet_sendpin"), "h1", PAID, loaded.token, resumable=False,
                                recent=loaded.recent, end=_end(sid), seen=loaded.seen) for _ in range(2)]
    assert written == [True, False]
    assert len(await store.redis.lrange(ends_key(redis_prefix), 0, -1)) == 1
    again = await store.acquire(sid, "h1", None, MSISDN)
    assert again.replay == PAID and again.ended is not None
    await store.release(sid, again.token)


@pytest.mark.parametrize("lost", ["scripts", "data and scripts"])
async def test_a_retransmitted_hop_after_redis_lost_its_scripts_or_data(store, lost):
    """A restart drops the scripts (NOSCRIPT: loaded again); FLUSHALL drops the record too (a new session)."""
    sid = f"lost-{lost}"
    await _hop(store, sid, "h1", "wallet_sendpin", PAID)
    await store.redis.script_flush()
    if lost != "scripts":
        await store.redis.flushall()
    again = await store.acquire(sid, "h1", None, MSISDN)
    try:
        if lost == "scripts":
            assert again.replay == PAID and again.ended is not None
        else:
            assert again.replay is None and again.session is None and again.ended is None
    finally:
        await store.release(sid, again.token)


async def test_two_concurrent_copies_of_a_hop_run_it_once(store):
    """The second copy waits for the lock, then finds the first one's reply: one run between them."""
    sid, runs = "concurrent", []

    async def copy() -> UssdReply:
        loaded = await store.acquire(sid, "h1", None, MSISDN)
        if loaded.replay is not None or loaded.ended is not None:
            await store.release(sid, loaded.token)
            return loaded.replay or loaded.ended.reply
        runs.append(1)
        await asyncio.sleep(0.05)
        await store.save(_session(sid, "wallet_sendpin"), "h1", PAID, loaded.token, resumable=False,
                         recent=loaded.recent)
        return PAID

    assert await asyncio.gather(copy(), copy(), copy()) == [PAID] * 3
    assert runs == [1]


# (hop after the END, what it is answered): the END's resend and a new hop get the END; a late resend of the
# hop before it gets its own reply (the replay cache keeps two) -- and none of them a live session to run on.
AFTER_END = [("h2", PAID), ("h3", PAID), ("h1", PIN)]


@pytest.mark.parametrize("hop,answer", AFTER_END)
async def test_after_an_end_no_hop_runs(store, hop, answer):
    sid = f"ended-{hop}"
    await _hop(store, sid, "h1", "wallet_sendpin", PIN)
    await _hop(store, sid, "h2", "wallet_sendpin", PAID)
    loaded = await store.acquire(sid, hop, None, MSISDN)
    assert (loaded.replay or loaded.ended.reply) == answer
    assert loaded.session is None and loaded.ended is not None
    await store.release(sid, loaded.token)


async def test_a_resume_pointer_never_comes_with_a_known_or_ended_session(store):
    sid = "resume-known"
    await store.redis.set(store._resume_key(MSISDN), json.dumps(_session("old", "wallet_sendpin").to_json()))
    fresh = await store.acquire(sid, "h1", None, MSISDN)
    assert fresh.resume is not None and fresh.resume.id == "old"
    await store.save(_session(sid, "wallet_sendpin"), "h1", PAID, fresh.token, resumable=False)
    ended = await store.acquire(sid, "h2", None, MSISDN)
    assert ended.resume is None and ended.ended is not None
    await store.release(sid, ended.token)


# -- the history screen through Services.reads ------------------------------------------------------------

HISTORY_USER = "+260971900031"
# (currency, direction, state, amount): the user's payments; a pending one in another currency than their
# wallet's is shown in its own currency (never as kwacha), a settled one not at all.
PAYMENTS = [("ZMW", "collection", "pending", 5_000), ("KES", "payout", "submitted", 2_000),
            ("KES", "collection", "succeeded", 9_000)]


async def test_history_shows_pending_payments_of_another_currency_in_theirs(client):
    phone = await register(client, HISTORY_USER, "Bwalya")
    await fund(client, HISTORY_USER, "12")
    async with committed_only(client.app[appkeys.DB]) as s:
        me = await s.scalar(select(User).where(User.msisdn == HISTORY_USER))
        for n, (currency, direction, state, amount) in enumerate(PAYMENTS):
            s.add(Payment(reference=f"revhop-{n}", provider="mtn", direction=direction, user_id=me.id,
                          msisdn=HISTORY_USER, currency=currency, amount=amount, state=state))
    await phone.dial()
    shown = await phone.press("1", "1")
    today = datetime.now(timezone.utc).strftime("%d/%m")
    lines = [line for line in shown.removeprefix("CON ").splitlines() if "pending" in line]
    assert lines == [f"{today} Withdrawal pending -KES20.00", f"{today} Deposit pending +K50.00"], shown
    assert "K12.00" in shown and "90.00" not in shown
    await books_ok(client)


# -- the flat move table against the machine, on a tree built to tell them apart ---------------------------

def _is(key):
    def rule(session, text):
        session.data.setdefault("asked", []).append(key)     # which conditions ran, in which order
        return text == key
    rule.__name__ = f"is_{key}"
    return rule


def _any(session, text):
    session.data.setdefault("asked", []).append("any")
    return True


def _keep(session, text):
    session.data["kept"] = text


def _refuse(session, text):
    raise ValueError(text)


async def _nothing(ctx):
    return None


# Two transitions may hold at once (the first added wins), one crosses into another feature by its full name,
# one goes back to its own source, one's action raises (the state must not move).
ODD = MenuTree([
    Feature("aa", (State("start", _nothing), State("one", _nothing), State("two", _nothing)),
            (Go("start", "one", _is("1"), _keep), Go("start", "two", _is("1")), Go("start", "two", _is("2")),
             Go("start", "bb_far", _is("3")), Go("start", "start", _is("4"), _keep),
             Go("start", "one", _is("5"), _refuse), Go("start", "two", _any)), "start"),
    Feature("bb", (State("far", _nothing),), (Go("far", "aa_start", _is("0")),), "far"),
], home="aa_start", start="aa_start")


@pytest.mark.parametrize("state,text", [(s, t) for s in ("aa_start", "aa_one", "bb_far")
                                        for t in ("0", "1", "2", "3", "4", "5", "x")])
def test_the_move_table_moves_as_the_machine_on_an_odd_tree(state, text):
    def outcome(move):
        session = Session(id="t", msisdn=MSISDN, country="ZM", state=state, lang="en")
        try:
            return move(session, text), session.state, session.data
        except ValueError:
            return "raised", session.state, session.data
    assert outcome(ODD.move) == outcome(ODD.machine_move)


# (state, input, what the table does): the odd tree's moves themselves, so the agreement above means something
ODD_MOVES = [
    ("aa_start", "1", (True, "aa_one", {"asked": ["1"], "kept": "1"})),
    ("aa_start", "2", (True, "aa_two", {"asked": ["1", "1", "2"]})),
    ("aa_start", "3", (True, "bb_far", {"asked": ["1", "1", "2", "3"]})),
    ("aa_start", "4", (True, "aa_start", {"asked": ["1", "1", "2", "3", "4"], "kept": "4"})),
    ("aa_start", "x", (True, "aa_two", {"asked": ["1", "1", "2", "3", "4", "5", "any"]})),
    ("bb_far", "0", (True, "aa_start", {"asked": ["0"]})),
    ("aa_one", "1", (False, "aa_one", {})),
]


@pytest.mark.parametrize("state,text,moved", ODD_MOVES)
def test_the_odd_trees_moves(state, text, moved):
    session = Session(id="t", msisdn=MSISDN, country="ZM", state=state, lang="en")
    assert (ODD.move(session, text), session.state, session.data) == moved
