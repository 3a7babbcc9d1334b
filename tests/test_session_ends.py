"""USSD session ends (issue 19): each ended session leaves one record on Redis, folded exactly once into
ussd_sessions and the daily rollups (workers/analytics.py).

Sessions are walked through the real engine and the aggregators' real webhooks (real Redis and SQL); the fold
runs as the worker runs it. Rollups are checked against counts from ussd_sessions in plain SQL."""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, or_, select, text

from enerlectra.db.models import FunnelDaily, SessionsDaily, UserActivity, UssdSession
from enerlectra.jobs import FOLD_ENDS_JOB, JOB_KIND, make_queues, redis_client
from enerlectra.ussd.ends import REASONS, SessionEnd, ends_key
from tests import test_engine_paths
from tests.jobs import run_jobs
from tests.test_aggregator_conformance import TABLES, USER, _registered
from tests.test_engine_paths import Phone
from ussd_app import appkeys
from workers import analytics

demo = test_engine_paths.demo          # the demo tree's engine (an END, an internal error) on the app's Redis/SQL


async def _pushed(redis, prefix: str) -> list[SessionEnd]:
    return [SessionEnd.load(raw) for raw in await redis.lrange(ends_key(prefix), 0, -1)]


# (label, keys after the dial, reason, the screens reached, first-reached order)
ENDS = [
    ("done", ["1", "5"], "done", ["main_menu", "demo_list", "demo_picked"]),
    ("done after paging", ["1", "98", "0", "17"], "done", ["main_menu", "demo_list", "demo_picked"]),
    ("error", ["1", "21", "0000"], "error", ["main_menu", "demo_list", "demo_note", "demo_boom"]),
    ("back and on", ["1", "21", "0", "0", "1", "2"], "done", ["main_menu", "demo_list", "demo_note", "demo_picked"]),
]


@pytest.mark.parametrize("label,keys,reason,screens", ENDS, ids=[e[0] for e in ENDS])
async def test_an_ended_session_pushes_one_record_and_a_retransmitted_end_none(demo, settings, label, keys,
                                                                               reason, screens):
    engine, msisdn = demo
    phone = Phone(engine, msisdn)
    await phone.dial()
    for key in keys[:-1]:
        assert not (await phone.press(key)).end
    assert await _pushed(engine.store.redis, settings.redis_prefix) == []        # a live session: nothing yet
    last = await phone.press(keys[-1])
    assert last.end
    assert (await phone._hop()).text == last.text                                 # the END again: replayed
    [end] = await _pushed(engine.store.redis, settings.redis_prefix)
    assert (end.session_id, end.msisdn, end.reason, list(end.screens), end.last_screen) == (
        phone.sid, msisdn, reason, screens, screens[-1])
    assert (end.aggregator, end.country, end.language, end.hops) == ("africastalking", "ZM", "en", len(keys) + 1)
    assert end.user_id is not None


# (aggregator, notice, extra fields, reason)
NOTICES = [
    ("africastalking", "end_notice", {}, "hangup"),                       # Success without our END: the user left
    ("africastalking", "timeout_notice", {}, "hangup"),                   # Incomplete, short: hung up
    ("africastalking", "timeout_notice", {"durationInMillis": "180000"}, "timeout"),
    ("africastalking", "timeout_notice", {"durationInMillis": "20000"}, "hangup"),
    ("africastalking", "end_notice", {"status": "Failed"}, "error"),
    ("hubtel", "end_notice", {}, "hangup"),
    ("hubtel", "timeout_notice", {}, "timeout"),
    ("beem", "end_notice", {}, "hangup"),
]


@pytest.mark.parametrize("name,kind,extra,reason", NOTICES, ids=[f"{n[0]}-{n[1]}-{n[3]}" for n in NOTICES])
async def test_a_notice_closing_a_live_session_pushes_its_reason_once(client, settings, name, kind, extra, reason):
    table = TABLES[name]
    line = await _registered(client, table.wire(), USER, "Mwila")
    store = client.app[appkeys.ENGINE].store
    await store.redis.delete(ends_key(settings.redis_prefix))        # registration ended its own session
    await line.dial()
    await line.press("1")
    notice = {**getattr(table, kind)(line.call), **extra}
    sent = {"data": notice} if table.wire().form else {"json": notice}
    for _ in range(2):                                                # a repeated notice closes nothing more
        resp = await client.post(table.notice_path or line.path, **sent)
        assert resp.status == 200, await resp.text()
    [end] = await _pushed(store.redis, settings.redis_prefix)
    assert (end.session_id, end.aggregator, end.reason, end.screens, end.last_screen) == (
        line.session_id, name, reason, ("main_menu", "wallet_menu"), "wallet_menu")


async def test_a_notice_after_our_end_pushes_nothing_more(demo, client, settings):
    engine, msisdn = demo
    phone = Phone(engine, msisdn)
    await phone.dial()
    await phone.press("1")
    assert (await phone.press("5")).end
    event = {"sessionId": phone.sid, "phoneNumber": msisdn, "status": "Success", "durationInMillis": "9000"}
    resp = await client.post("/ussd/africastalking/events", data=event)
    assert resp.status == 200
    assert [e.reason for e in await _pushed(engine.store.redis, settings.redis_prefix)] == ["done"]


def _random_ends(count: int, seed: int) -> list[SessionEnd]:
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, 22, tzinfo=timezone.utc).timestamp()          # spans three UTC days
    screens = ["main_menu", "wallet_menu", "wallet_history", "trade_menu", "trade_sellkwh", "settings_menu"]
    ends = []
    for n in range(count):
        reached = rng.sample(screens, rng.randint(1, 4))
        ends.append(SessionEnd.of(
            session_id=f"s{seed}-{n}", aggregator="africastalking", msisdn=f"+2609710{n:05d}",
            user_id=rng.choice([None, 1, 2, 3, 4]), country=rng.choice(["ZM", "TZ"]),
            language=rng.choice(["en", "bem", "sw"]), screens=reached, last_screen=reached[-1],
            reason=rng.choice(REASONS), hops=rng.randint(1, 9), ended_at=start + rng.uniform(0, 2 * 86400)))
    return ends


async def _push(redis, prefix: str, ends: list[SessionEnd]) -> None:
    await redis.rpush(ends_key(prefix), *[end.dump() for end in ends])


async def _rollups_match_sessions(db) -> int:
    """Every rollup figure equals the count of ussd_sessions rows, in plain SQL; returns the sessions."""
    async with db() as s:
        total = await s.scalar(select(func.count()).select_from(UssdSession))
        for reason in REASONS:
            rows = await s.scalar(select(func.count()).where(UssdSession.end_reason == reason))
            assert await s.scalar(select(func.coalesce(func.sum(getattr(SessionsDaily, reason)), 0))) == rows
            ended = dict((await s.execute(select(UssdSession.last_screen, func.count()).where(
                UssdSession.end_reason == reason).group_by(UssdSession.last_screen))).all())
            rolled = dict((await s.execute(select(FunnelDaily.screen, func.sum(getattr(FunnelDaily, f"ended_{reason}")))
                                           .group_by(FunnelDaily.screen))).all())
            assert {k: v for k, v in rolled.items() if v} == ended
        assert await s.scalar(select(func.coalesce(func.sum(SessionsDaily.sessions), 0))) == total
        assert await s.scalar(select(func.coalesce(func.sum(SessionsDaily.hops), 0))) == await s.scalar(
            select(func.coalesce(func.sum(UssdSession.hops), 0)))
        for screen, reached in (await s.execute(select(FunnelDaily.screen, func.sum(FunnelDaily.reached))
                                                .group_by(FunnelDaily.screen))).all():
            counted = await s.scalar(text("SELECT count(*) FROM ussd_sessions WHERE ' ' || screens || ' ' LIKE :p"),
                                     {"p": f"% {screen} %"})
            assert reached == counted, screen
        for day in (await s.scalars(select(SessionsDaily.day).distinct())).all():
            lo = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            in_day = await s.scalar(select(func.count()).where(UssdSession.ended_at >= lo,
                                                               UssdSession.ended_at < lo + timedelta(days=1)))
            assert await s.scalar(select(func.sum(SessionsDaily.sessions)).where(SessionsDaily.day == day)) == in_day
            users = await s.scalar(select(func.count(UssdSession.user_id.distinct())).where(
                UssdSession.ended_at >= lo, UssdSession.ended_at < lo + timedelta(days=1)))
            active = select(func.count()).select_from(UserActivity).where(UserActivity.day == day)
            assert await s.scalar(active) == users
        days = sorted((await s.scalars(select(SessionsDaily.day).distinct())).all())
        for first, last in [(a, b) for a in days for b in days if a <= b]:      # every window of the days seen
            lo, hi = (datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in (first, last))
            distinct = await s.scalar(select(func.count(UssdSession.user_id.distinct())).where(
                UssdSession.ended_at >= lo, UssdSession.ended_at < hi + timedelta(days=1)))
            firsts = await s.scalar(select(func.count()).select_from(UserActivity).where(
                UserActivity.day >= first, UserActivity.day <= last,
                or_(UserActivity.prev_day.is_(None), UserActivity.prev_day < first)))
            assert firsts == distinct, (first, last)
    return total


async def test_the_fold_is_exactly_once_run_twice_and_with_repeats(client, settings):
    db, redis, prefix = client.app[appkeys.DB], client.app[appkeys.ENGINE].store.redis, settings.redis_prefix
    ends = _random_ends(300, 1)
    await _push(redis, prefix, ends + ends[:40])          # a record pushed twice (a save retried)
    assert await analytics.fold(db, redis, prefix, batch=64) == 300
    assert await redis.llen(ends_key(prefix)) == 0
    await _push(redis, prefix, ends[100:150])             # a batch folded again (a crash before the trim)
    assert await analytics.fold(db, redis, prefix) == 0
    assert await _rollups_match_sessions(db) == 300


async def test_concurrent_folds_record_every_session_once(client, settings):
    db, redis, prefix = client.app[appkeys.DB], client.app[appkeys.ENGINE].store.redis, settings.redis_prefix
    ends = _random_ends(500, 2)
    await _push(redis, prefix, ends[:250])

    async def push_rest():
        for n in range(250, 500, 25):
            await _push(redis, prefix, ends[n:n + 25])
            await asyncio.sleep(0)
    results = await asyncio.gather(push_rest(), *[analytics.fold(db, redis, prefix, batch=50) for _ in range(4)])
    while await redis.llen(ends_key(prefix)):             # what came after the folders' last read
        await analytics.fold(db, redis, prefix, batch=50)
    assert sum(results[1:]) <= 500
    assert await _rollups_match_sessions(db) == 500


async def test_a_folder_that_lost_its_lock_trims_nothing(client, settings):
    db, redis, prefix = client.app[appkeys.DB], client.app[appkeys.ENGINE].store.redis, settings.redis_prefix
    await _push(redis, prefix, _random_ends(10, 3))
    await redis.set(ends_key(prefix) + ":lock", "another folder", px=60_000)
    assert await analytics.fold(db, redis, prefix) == 0
    assert await redis.llen(ends_key(prefix)) == 10
    await redis.delete(ends_key(prefix) + ":lock")


async def test_unreadable_records_are_dropped_and_the_rest_folded(client, settings):
    db, redis, prefix = client.app[appkeys.DB], client.app[appkeys.ENGINE].store.redis, settings.redis_prefix
    good = _random_ends(5, 4)
    await redis.rpush(ends_key(prefix), b"not json", b'["x"]', *[e.dump() for e in good])
    assert await analytics.fold(db, redis, prefix) == 5
    assert await redis.llen(ends_key(prefix)) == 0


async def test_walked_sessions_reach_sql_through_the_worker_job(demo, settings):
    engine, msisdn = demo
    for keys in (["1", "5"], ["1", "21", "0000"]):
        phone = Phone(engine, msisdn)
        await phone.dial()
        for key in keys:
            await phone.press(key)
    connection = redis_client(settings.redis_url)
    try:
        make_queues(connection, settings.queue_name)[JOB_KIND[FOLD_ENDS_JOB]].enqueue(FOLD_ENDS_JOB)
    finally:
        connection.close()
    await run_jobs(settings)
    async with engine.services.db() as s:
        got = (await s.execute(select(UssdSession.end_reason, UssdSession.last_screen, UssdSession.screens)
                               .order_by(UssdSession.id))).all()
        funnel = dict((await s.execute(select(FunnelDaily.screen, FunnelDaily.reached))).all())
    assert [tuple(r) for r in got] == [("done", "demo_picked", "main_menu demo_list demo_picked"),
                                       ("error", "demo_boom", "main_menu demo_list demo_note demo_boom")]
    assert funnel == {"main_menu": 2, "demo_list": 2, "demo_picked": 1, "demo_note": 1, "demo_boom": 1}


async def test_the_waiting_list_keeps_the_newest_records_when_nobody_folds(demo, settings, monkeypatch):
    """Workers down: the list stops at MAX_WAITING (Redis never fills with analytics), the newest kept."""
    from ussd_app.engine import store
    monkeypatch.setattr(store, "MAX_WAITING", 2)
    engine, msisdn = demo
    sids = []
    for _ in range(4):
        phone = Phone(engine, msisdn)
        await phone.dial()
        await phone.press("1")
        assert (await phone.press("5")).end
        sids.append(phone.sid)
    assert [e.session_id for e in await _pushed(engine.store.redis, settings.redis_prefix)] == sids[-2:]


@pytest.mark.parametrize("raw, screens", [
    (b'["s","at","+260971","1","ZM","en","main_menu wallet_menu","wallet_menu","done",1,1.0]',
     ("main_menu", "wallet_menu")),
    (b'["s","at","+260971","1","ZM","en",7,"main_menu","done",1,1.0]', ("7",)),   # not text: read as text
    (b"[1]", None), (b"{}", None), (b"not json", None),
])
def test_records_load_or_are_refused_as_unreadable(raw, screens):
    """Only ValueError leaves load (the fold drops that record): anything else would stop the fold for good."""
    if screens is None:
        with pytest.raises(ValueError):
            SessionEnd.load(raw)
    else:
        assert SessionEnd.load(raw).screens == screens
