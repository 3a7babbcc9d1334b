"""A hop's save is one script (record, resume pointer, end record, the lock's release) and a new session's
resume pointer comes with the lock (issue 18: two round trips a hop, no pipeline). A table of what each
save leaves in Redis -- also after Redis lost its scripts (a restart) and for a retransmitted save -- and of
when the lock's read brings the pointer along. Real Redis (embedded, or REDIS_URL)."""
from __future__ import annotations

import json
import time

import pytest

from enerlectra.redis_client import async_client
from enerlectra.ussd.ends import SessionEnd, ends_key
from enerlectra.ussd.types import Session, UssdReply
from ussd_app.engine.store import SessionStore

MSISDN = "+260971000001"


@pytest.fixture
async def store(redis_url, redis_prefix):
    client = async_client(redis_url)
    yield SessionStore(client, redis_prefix, 60, 600, 5000, 2000)
    await client.aclose()


def _session(sid: str, state: str = "trade_sellkwh", kept: bool = False) -> Session:
    return Session(id=sid, msisdn=MSISDN, country="ZM", state=state, lang="en", user_id=7, resume_kept=kept)


def _end(sid: str) -> SessionEnd:
    return SessionEnd.of(session_id=sid, aggregator="africastalking", msisdn=MSISDN, user_id=7, country="ZM",
                         language="en", screens=["main_menu"], last_screen="main_menu", reason="done", hops=2,
                         ended_at=time.time())


# (label, a pointer before, resume_kept, resumable, keep_resume, END, a pointer after, end records pushed)
SAVES = [
    ("plain hop", False, False, False, False, False, False, 0),
    ("mid-journey sets the pointer", False, False, True, False, False, True, 0),
    ("home drops a known pointer", True, True, False, False, False, False, 0),
    ("an unknown pointer is left alone", True, False, False, False, False, True, 0),
    ("the resume offer keeps it", True, True, True, True, False, True, 0),
    ("an END pushes its record, drops the pointer", True, True, False, False, True, False, 1),
    ("an END after a failure keeps the pointer", True, True, False, True, True, True, 1),
]


@pytest.mark.parametrize("scripts_lost", [False, True], ids=["scripts", "after a restart"])
@pytest.mark.parametrize("label,before,kept,resumable,keep,ends,after,pushed", SAVES, ids=[s[0] for s in SAVES])
async def test_a_save_leaves_record_pointer_end_record_and_no_lock(store, redis_prefix, scripts_lost, label,
                                                                   before, kept, resumable, keep, ends,
                                                                   after, pushed):
    redis, sid = store.redis, f"save-{label}"
    if before:
        await redis.set(store._resume_key(MSISDN), json.dumps(_session("old").to_json()), ex=60)
    loaded = await store.acquire(sid, "h1", None, MSISDN)
    if scripts_lost:
        await redis.script_flush()          # what a Redis restart does to them: loaded again, run once
    reply = UssdReply("Bye" if ends else "Next", end=ends)
    await store.save(_session(sid, kept=kept), "h1", reply, loaded.token, resumable=resumable, keep_resume=keep,
                     recent=loaded.recent, end=_end(sid) if ends else None)
    assert await redis.exists(store._key(sid, "lock")) == 0
    pointer = await redis.get(store._resume_key(MSISDN))
    assert (pointer is not None) == after
    if after and not before:
        assert (await store.resume_point(MSISDN)).state == "trade_sellkwh"
    assert [SessionEnd.load(raw).session_id for raw in await redis.lrange(ends_key(redis_prefix), 0, -1)] == \
        [sid] * pushed
    again = await store.acquire(sid, "h1", None, MSISDN)        # the retransmission finds the reply
    assert again.replay == reply and again.resume is None      # a known session brings no pointer
    assert (again.session is None) == ends and (again.ended is not None) == ends
    await store.release(sid, again.token)


# (label, a pointer stored, the number given to acquire, a resume point loaded)
ACQUIRES = [
    ("new session, its number's pointer", True, MSISDN, True),
    ("new session, no pointer", False, MSISDN, False),
    ("no number given (a notice's close)", True, "", False),
]


@pytest.mark.parametrize("limited", [False, True], ids=["lock", "limits and lock"])
@pytest.mark.parametrize("label,stored,msisdn,loaded", ACQUIRES, ids=[a[0] for a in ACQUIRES])
async def test_a_new_sessions_lock_brings_its_numbers_resume_point(store, label, stored, msisdn, loaded,
                                                                   limited):
    from enerlectra.ratelimit import Limiter, Rule
    sid = f"acquire-{label}-{limited}"
    if stored:
        first = await store.acquire("earlier", "h", None, MSISDN)
        await store.save(_session("earlier"), "h", UssdReply("Amount?", end=False), first.token, resumable=True)
    limits = (Limiter(store.redis, store.prefix).prepare([(MSISDN, [Rule("ussd_hop", 100, 60, member=sid)])])
              if limited else None)
    got = await store.acquire(sid, "h", limits, msisdn)
    assert got.session is None
    assert (got.resume is not None) == loaded
    if loaded:
        assert (got.resume.id, got.resume.state, got.resume.user_id) == ("earlier", "trade_sellkwh", 7)
    await store.release(sid, got.token)
