"""Rate limits: the sliding-window limiter against a reference model (hypothesis, real Redis)."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from redis.asyncio import Redis

from ussd_app.ratelimit import Limiter, Rule

RELAXED = hsettings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
async def limiter(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    yield Limiter(redis, redis_prefix)
    await redis.aclose()


# -- the limiter -----------------------------------------------------------------------------------

def model(times_ms: list[int], limit: int, window_ms: int) -> list[bool]:
    """What a sliding-window log allows: a hit at t passes when fewer than `limit` allowed hits lie in
    (t - window, t]; refused hits are not recorded."""
    allowed: list[int] = []
    verdicts = []
    for t in times_ms:
        ok = sum(1 for a in allowed if a > t - window_ms) < limit
        verdicts.append(ok)
        if ok:
            allowed.append(t)
    return verdicts


@RELAXED
@given(limit=st.integers(1, 6), window_ms=st.integers(1_000, 60_000),
       gaps=st.lists(st.integers(0, 20_000), min_size=1, max_size=40))
async def test_any_hits_allow_at_most_the_limit_in_any_window(limiter, limit, window_ms, gaps):
    subject, times, t = uuid.uuid4().hex, [], 1_764_000_000_000          # ms; the clock passed in
    for gap in gaps:
        t += gap
        times.append(t)
    verdicts = [(await limiter.hit("prop", subject, limit, window_ms / 1000, now=t / 1000)) for t in times]
    assert [v.ok for v in verdicts] == model(times, limit, window_ms)
    allowed = [t for t, v in zip(times, verdicts) if v.ok]
    for end in allowed:                                    # every window that ends on an allowed hit
        assert sum(1 for a in allowed if end - window_ms < a <= end) <= limit
    for t, v in zip(times, verdicts):
        if not v.ok:                                       # a refusal says when the oldest hit leaves
            oldest = min(a for a in allowed if t - window_ms < a <= t)
            assert v.count == limit and v.retry_after == -(-(oldest + window_ms - t) // 1000)


@pytest.mark.parametrize("label,hits,expected", [
    ("refused at the limit", [0, 1, 2, 3], [True, True, True, False]),
    ("open again once the oldest leaves the window", [0, 1, 2, 10, 11, 12], [True] * 4 + [True, True]),
    ("a refusal is not recorded", [0, 1, 2, 5, 6, 10.5], [True, True, True, False, False, True]),
    ("exactly one window later the oldest is out", [0, 0, 0, 10], [True, True, True, True]),
    ("just before it is still in", [0, 0, 0, 9.999], [True, True, True, False]),
])
async def test_the_window_slides(limiter, label, hits, expected):
    verdicts = [await limiter.hit("slide", "+260971000001", 3, 10, now=1_764_000_000 + t) for t in hits]
    assert [v.ok for v in verdicts] == expected


async def test_a_member_already_in_the_window_is_free(limiter):
    rule = lambda member: [Rule("ussd_session", 2, 600, member=member)]     # noqa: E731
    verdicts = [await limiter.hit_all("+260971000002", rule(m)) for m in ["s1", "s1", "s2", "s1", "s2", "s3"]]
    assert [v.ok for v in verdicts] == [True, True, True, True, True, False]
    assert verdicts[-1].kind == "ussd_session" and verdicts[-1].count == 2


async def test_two_rules_in_one_call_record_nothing_when_either_refuses(limiter, redis_url):
    rules = lambda n: [Rule("a", 5, 60), Rule("b", 2, 60, member=f"m{n}")]   # noqa: E731
    verdicts = [await limiter.hit_all("x", rules(n)) for n in range(4)]
    assert [(v.ok, v.kind) for v in verdicts] == [(True, ""), (True, ""), (False, "b"), (False, "b")]
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.zcard(limiter.key("a", "x")) == 2, "the refused hits did not count against 'a'"
    finally:
        await redis.aclose()


async def test_redis_time_key_shape_and_expiry(limiter, redis_url, redis_prefix):
    verdicts = [await limiter.hit("webhook_ip", "10.1.2.3", 2, 60) for _ in range(3)]
    assert [v.ok for v in verdicts] == [True, True, False] and 1 <= verdicts[-1].retry_after <= 60
    key = limiter.key("webhook_ip", "10.1.2.3")
    assert key == f"{redis_prefix}rl:{{10.1.2.3}}:webhook_ip"
    redis = Redis.from_url(redis_url)
    try:
        assert 0 < await redis.pttl(key) <= 60_000
    finally:
        await redis.aclose()


async def test_zero_means_no_limit_and_unreachable_redis_lets_requests_through(limiter):
    assert all([(await limiter.hit("off", "y", 0, 60)).ok for _ in range(5)])
    down = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    try:
        assert (await Limiter(down, "test:").hit("webhook_ip", "y", 1, 60)).ok
    finally:
        await down.aclose()
