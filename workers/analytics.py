"""Analytics job: fold the USSD session ends the web app pushed onto Redis (enerlectra/ussd/ends.py) into SQL:
one ussd_sessions row per session, and the daily rollups the console reads (funnel_daily, sessions_daily,
user_activity).

Exactly once per session id: a batch is read (LRANGE), its rows inserted ON CONFLICT(session_id) DO NOTHING
RETURNING in one transaction, and only the rows that went in are added to the rollups (a record pushed twice,
a batch folded twice after a crash between commit and trim, both count once). The batch leaves the list only
after the commit, and only while this folder still holds the fold lock (checked in the trim's own script), so
a folder whose lock ran out never trims what another folder has not read.

The batch's counts are summed in Python before the upserts: the records come from Redis, not from SQL rows, and
one upsert per (day, screen, language, country) beats one per session. AT's ussd_session_events are not folded:
every notice that closes a live session already pushed its end here, and a notice after our END is the same
session counted once already.
"""
from __future__ import annotations

import logging
import secrets
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from typing import Iterable

from redis.asyncio import Redis
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.dialects import insert_for
from enerlectra.db.models import FunnelDaily, SessionsDaily, UserActivity, UssdSession
from enerlectra.redis_client import async_client
from enerlectra.ussd.ends import REASONS, SessionEnd, ends_key, journey
from workers import runtime

log = logging.getLogger(__name__)

BATCH = 2000                # records a transaction
MAX_BATCHES = 50            # a run's bound: pushes keep coming; the next tick takes the rest
LOCK_MS = 120_000           # a batch takes well under a second; the lock outlives a stalled one, then frees
# Trim what was read, and keep the lock, only while it is still ours. KEYS: lock, list. ARGV: token, n, lock ms.
_TRIM_IF_OURS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], ARGV[2], -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def fold_session_ends() -> int:
    """The rq job (the worker's ticker enqueues it): sessions newly recorded."""
    settings = runtime.settings()

    async def body(db: async_sessionmaker) -> int:
        redis = async_client(settings.redis_url)
        try:
            return await fold(db, redis, settings.redis_prefix)
        finally:
            await redis.aclose()
    return runtime.run(body)


async def fold(db: async_sessionmaker, redis: Redis, prefix: str, batch: int = BATCH) -> int:
    """Move the ends list into SQL; returns how many sessions were new. 0 at once when another folder runs."""
    key, lock, token = ends_key(prefix), ends_key(prefix) + ":lock", secrets.token_hex(8)
    if not await redis.set(lock, token, nx=True, px=LOCK_MS):
        return 0
    new = 0
    try:
        for _ in range(MAX_BATCHES):
            raw = await redis.lrange(key, 0, batch - 1)
            if not raw:
                break
            new += await record(db, _parse(raw))
            if not await redis.eval(_TRIM_IF_OURS, 2, lock, key, token, len(raw), LOCK_MS):
                log.warning("session ends: the fold lock ran out; another folder trims this batch")
                break
            if len(raw) < batch:
                break
    finally:
        await redis.eval(_RELEASE, 1, lock, token)
    return new


def _parse(raw: list[bytes]) -> list[SessionEnd]:
    ends = []
    for item in raw:
        try:
            ends.append(SessionEnd.load(item))
        except ValueError:
            log.error("session ends: an unreadable record dropped (%d bytes)", len(item))
    return ends


async def record(db: async_sessionmaker, ends: Iterable[SessionEnd]) -> int:
    """One transaction: the sessions not recorded yet, and those alone into the rollups. Returns their count."""
    unique = {end.session_id: end for end in ends}
    if not unique:
        return 0
    async with db() as s, s.begin():
        insert = insert_for(s)
        done = await s.execute(
            insert(UssdSession).on_conflict_do_nothing(index_elements=["session_id"])
            .returning(UssdSession.session_id), [_row(end) for end in unique.values()])
        new = [unique[sid] for sid in done.scalars()]
        if new:
            await _add_rollups(s, new)
    return len(new)


def _row(end: SessionEnd) -> dict:
    return {"session_id": end.session_id[:128], "aggregator": end.aggregator[:16], "msisdn": end.msisdn[:16],
            "user_id": end.user_id, "country": end.country[:2], "language": end.language[:3],
            "screens": " ".join(end.screens), "last_screen": end.last_screen[:40], "end_reason": end.reason,
            "hops": end.hops, "ended_at": _at(end)}


def _at(end: SessionEnd) -> datetime:
    return datetime.fromtimestamp(end.ended_at, timezone.utc)


def _day(end: SessionEnd) -> date:
    return _at(end).date()


async def _add_rollups(s: AsyncSession, new: list[SessionEnd]) -> None:
    insert = insert_for(s)
    funnel: dict[tuple, Counter] = defaultdict(Counter)
    daily: dict[tuple, Counter] = defaultdict(Counter)
    for end in new:
        day = _day(end)
        for screen in end.screens:
            funnel[(day, screen[:40], end.language[:3], end.country[:2])]["reached"] += 1
        funnel[(day, end.last_screen[:40], end.language[:3], end.country[:2])][f"ended_{end.reason}"] += 1
        daily[(day, end.country[:2], end.language[:3])].update({"sessions": 1, "hops": end.hops, end.reason: 1})
    funnel_counts = ("reached", *(f"ended_{r}" for r in REASONS))
    await _upsert(s, insert, FunnelDaily, ["day", "screen", "language", "country"], funnel_counts,
                  [{"day": k[0], "screen": k[1], "language": k[2], "country": k[3], "journey": journey(k[1])[:20],
                    **{c: n[c] for c in funnel_counts}} for k, n in sorted(funnel.items())])
    daily_counts = ("sessions", "hops", *REASONS)
    await _upsert(s, insert, SessionsDaily, ["day", "country", "language"], daily_counts,
                  [{"day": k[0], "country": k[1], "language": k[2], **{c: n[c] for c in daily_counts}}
                   for k, n in sorted(daily.items())])
    active = sorted({(_day(end), end.user_id) for end in new if end.user_id is not None})
    if active:
        added = (await s.execute(insert(UserActivity).on_conflict_do_nothing()
                                 .returning(UserActivity.day, UserActivity.user_id),
                                 [{"day": day, "user_id": user_id} for day, user_id in active])).all()
        if added:
            await _link_days(s, [{"u": user_id, "d": day} for day, user_id in added])


def _prev_day_statements():
    """user_activity.prev_day for days just added: a new day's is the user's latest day before it; the user's
    next day after it (a day folded late) now points at it. By the (user_id, day) index."""
    ua = UserActivity.__table__
    x = ua.alias("x")
    u, d = bindparam("u"), bindparam("d")
    before = select(func.max(x.c.day)).where(x.c.user_id == u, x.c.day < d).scalar_subquery()
    after = select(func.min(x.c.day)).where(x.c.user_id == u, x.c.day > d).scalar_subquery()
    return (update(ua).where(ua.c.user_id == u, ua.c.day == d).values(prev_day=before),
            update(ua).where(ua.c.user_id == u, ua.c.day == after, or_(ua.c.prev_day.is_(None), ua.c.prev_day < d))
            .values(prev_day=d))


async def _link_days(s: AsyncSession, added: list[dict]) -> None:
    own, next_one = _prev_day_statements()
    await s.execute(own, added)
    await s.execute(next_one, added)


async def _upsert(s: AsyncSession, insert, model, keys: list[str], counts: Iterable[str], rows: list[dict]) -> None:
    """Add the rows' counts to the rows already there (one statement, many parameter sets)."""
    stmt = insert(model)
    table = model.__table__
    stmt = stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: table.c[c] + stmt.excluded[c] for c in counts})
    await s.execute(stmt, rows)
