"""Rate limits: the sliding-window limiter against a reference model (hypothesis, real Redis), then tables of
floods run against the real app (USSD per number, SMS per number, webhooks per address, a payment's
callbacks per reference), each checked at the phone, in SQL, at the provider's fake and in /metrics."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis
from sqlalchemy import func, select

from enerlectra import i18n
from enerlectra.db.models import SmsInbound, SmsOutbox
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.ratelimit import Limiter, Rule
from enerlectra.settings import Settings
from payments.sandboxes.mtn import FakeMtn, running
from sms.flood import too_many_text
from tests.helpers import assert_screen_ok, at_form, new_session_id
from ussd_app import appkeys
from ussd_app.adapters.ratelimits import too_many_requests_text, trusted_networks
from ussd_app.app import create_app
from ussd_app.engine.store import RateLimited, SessionStore

RELAXED = hsettings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TOO_MANY = "END Too many requests. Please try again in a few minutes."


@pytest.fixture
async def limiter(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    yield Limiter(redis, redis_prefix)
    await redis.aclose()


async def limited(client) -> dict[str, float]:
    """rate_limited_total by kind, as /metrics shows it."""
    text = await (await client.get("/metrics")).text()
    found = re.findall(r'^rate_limited_total\{kind="(\w+)"\} (\S+)$', text, re.M)
    return {kind: float(n) for kind, n in found}


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


@pytest.mark.parametrize("limits,expect,recorded", [
    # (address limit, number limit) -> verdicts of three calls, hits left in (address, number)
    ((5, 5), [(True, ""), (True, ""), (True, "")], (3, 3)),
    ((5, 2), [(True, ""), (True, ""), (False, "n")], (3, 2)),     # the number refuses: the address counted
    ((2, 5), [(True, ""), (True, ""), (False, "a")], (2, 2)),     # the address refuses: the number is not
])
async def test_groups_in_one_call_are_as_calls_one_after_the_other(limiter, redis_url, limits, expect,
                                                                   recorded):
    """hit_groups([address], [number]) in one round trip leaves what hit_all(address) then, when allowed,
    hit_all(number) would: a group records all or nothing, a refusal stops the groups after it."""
    subject = uuid.uuid4().hex
    groups = lambda n: [(f"ip-{subject}", [Rule("a", limits[0], 60)]),           # noqa: E731
                        (f"no-{subject}", [Rule("n", limits[1], 60, member=f"m{n}"), Rule("o", 9, 60)])]
    verdicts = [await limiter.hit_groups(groups(n)) for n in range(3)]
    assert [(v.ok, v.kind) for v in verdicts] == expect
    redis = Redis.from_url(redis_url)
    try:
        got = (await redis.zcard(limiter.key("a", f"ip-{subject}")),
               await redis.zcard(limiter.key("n", f"no-{subject}")))
        assert got == recorded
        assert await redis.zcard(limiter.key("o", f"no-{subject}")) == recorded[1], "a group: all or nothing"
    finally:
        await redis.aclose()


async def test_limits_in_the_lock_round_trip_count_once_and_a_refusal_takes_no_lock(limiter, redis_url,
                                                                                   redis_prefix):
    """The engine checks a hop's limits in the script that takes the session's lock: a hop that waits for the
    lock is counted once (no member: every check would count), and a refused one leaves the lock alone."""
    redis = Redis.from_url(redis_url)
    store = SessionStore(redis, redis_prefix, 60, 60, 5000, 2000)
    subject, sid = uuid.uuid4().hex, new_session_id()
    try:
        await redis.set(store._key(sid, "lock"), "another-hop", px=150)       # held a while, then lapses
        loaded = await store.acquire(sid, "", limiter.prepare([(subject, [Rule("k", 2, 60)])]))
        assert await redis.zcard(limiter.key("k", subject)) == 1
        await store.release(sid, loaded.token)
        again = await store.acquire(sid, "", limiter.prepare([(subject, [Rule("k", 2, 60)])]))
        await store.release(sid, again.token)
        with pytest.raises(RateLimited) as over:
            await store.acquire(sid, "", limiter.prepare([(subject, [Rule("k", 2, 60)])]))
        assert (over.value.verdict.ok, over.value.verdict.kind, over.value.verdict.count) == (False, "k", 2)
        assert await redis.get(store._key(sid, "lock")) is None, "a refused hop took no lock"
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


# -- USSD, per number --------------------------------------------------------------------------------

A, B = "+260971100001", "+260971100002"


@dataclass
class UssdCase:
    label: str
    limits: dict
    hops: list[tuple[str, str, str]]     # (number, session label, cumulative text)
    expect: str                          # one letter a hop: C served, L the "too many" END
    metrics: dict = field(default_factory=dict)


def dials(number: str, n: int, first: int = 0) -> list[tuple[str, str, str]]:
    return [(number, f"{number}-{i}", "") for i in range(first, first + n)]


USSD = [
    UssdCase("a burst of sessions from one number is stopped; another number is served",
             {"rate_ussd_sessions_per_msisdn": 3}, dials(A, 6) + dials(B, 1), "CCCLLLC", {"ussd_session": 3}),
    UssdCase("many numbers each under the limit: none limited", {"rate_ussd_sessions_per_msisdn": 2},
             [h for n in range(8) for h in dials(f"+2609711000{n:02d}", 2)], "C" * 16),
    UssdCase("a session's later hops are not new sessions", {"rate_ussd_sessions_per_msisdn": 1},
             [(A, "s", ""), (A, "s", "1"), (A, "s", "1*0"), (A, "t", "")], "CCCL", {"ussd_session": 1}),
    UssdCase("hops per number per minute", {"rate_ussd_hops_per_msisdn": 3},
             [(A, "s", ""), (A, "s", "1"), (A, "s", "1*0"), (A, "s", "1*0*1"), (B, "u", "")], "CCCLC",
             {"ussd_hop": 1}),
    UssdCase("a retransmitted hop counts once", {"rate_ussd_hops_per_msisdn": 2},
             [(A, "s", ""), (A, "s", ""), (A, "s", "1"), (A, "s", "1"), (A, "s", "1*0")], "CCCCL",
             {"ussd_hop": 1}),
    UssdCase("zero: no limit", {"rate_ussd_sessions_per_msisdn": 0, "rate_ussd_hops_per_msisdn": 0},
             dials(A, 30), "C" * 30),
]


async def hop(client, number: str, session: str, text: str):
    return await client.post("/ussd/africastalking", data=at_form(f"ATUid_{session}", text, number))


@pytest.mark.parametrize("case", USSD, ids=[c.label for c in USSD])
async def test_ussd_limits(case: UssdCase, aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(**case.limits)))
    seen = ""
    for number, session, text in case.hops:
        resp = await hop(client, number, session, text)
        body = await resp.text()
        assert resp.status == 200, body
        seen += "L" if body == TOO_MANY else "C"
    assert seen == case.expect
    assert await limited(client) == {k: float(n) for k, n in case.metrics.items()}


async def test_the_end_screen_is_in_the_users_language_and_fits(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(rate_ussd_sessions_per_msisdn=1)))
    await users.register(client.app[appkeys.DB], parse_msisdn(A), "Bupe", "sw", hash_user_pin("4826", 16))
    for number in (A, "+255712100003"):             # a Swahili user; a Tanzanian newcomer
        await hop(client, number, f"{number}-1", "")
        body = await (await hop(client, number, f"{number}-2", "")).text()
        assert body == "END Maombi mengi mno. Tafadhali jaribu tena baada ya dakika chache."


@pytest.mark.parametrize("code", list(i18n.LANGUAGES))
def test_the_too_many_texts_fit_in_every_language(code):
    with i18n.language(code):
        assert_screen_ok("END " + too_many_requests_text())
        assert code == "en" or too_many_requests_text() != TOO_MANY[4:], "translated"
        assert code == "en" or not too_many_text().startswith("Too many messages.")


async def test_the_window_opens_again_after_ten_minutes(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(rate_ussd_sessions_per_msisdn=2)))
    clock = [1_764_000_000.0]
    client.app[appkeys.LIMITER].clock = lambda: clock[0]
    replies = []
    for i, advance in enumerate([0, 1, 1, 300, 299, 0.5]):      # t = 0, 1, 2, 302, 601, 601.5
        clock[0] += advance
        replies.append(await (await hop(client, A, f"w{i}", "")).text())
    assert [r == TOO_MANY for r in replies] == [False, False, True, True, False, False]


# -- SMS, per number -------------------------------------------------------------------------------

@dataclass
class SmsCase:
    label: str
    limits: dict
    messages: list[tuple[str, str]]      # (sender, provider id)
    answers: dict[str, int]              # replies to the command, per sender
    notices: dict[str, int]              # "too many" SMS, per sender
    stored: int                          # inbound rows kept
    metrics: dict = field(default_factory=dict)


def flood(sender: str, n: int) -> list[tuple[str, str]]:
    return [(sender, f"{sender}-{i}") for i in range(n)]


SMS = [
    SmsCase("a flood: the budget answered, one notice, then silence; another number still answered",
            {"rate_sms_replies_per_msisdn": 3}, flood(A, 10) + flood(B, 1), {A: 3, B: 1}, {A: 1}, 11,
            {"sms_reply": 7}),
    SmsCase("past the inbound budget nothing is even stored", {"rate_sms_replies_per_msisdn": 2,
                                                              "rate_sms_in_per_msisdn": 5},
            flood(A, 9), {A: 2}, {A: 1}, 5, {"sms_reply": 3, "sms_in": 4}),
    SmsCase("the aggregator's retries count once", {"rate_sms_replies_per_msisdn": 1},
            [(A, "x"), (A, "x"), (A, "x"), (A, "y"), (A, "y"), (A, "z")], {A: 1}, {A: 1}, 3,
            {"sms_reply": 3}),
    SmsCase("many numbers each under the budget: all answered", {"rate_sms_replies_per_msisdn": 2},
            [m for n in range(6) for m in flood(f"+2609711000{n:02d}", 2)],
            {f"+2609711000{n:02d}": 2 for n in range(6)}, {}, 12),
]


@pytest.mark.parametrize("case", SMS, ids=[c.label for c in SMS])
async def test_sms_limits(case: SmsCase, aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(**case.limits)))
    for sender, provider_id in case.messages:
        resp = await client.post("/sms/africastalking/inbound",
                                 data={"from": sender, "id": provider_id, "text": "HELP", "to": "21212"})
        assert resp.status == 200, await resp.text()
    async with client.app[appkeys.DB]() as s:
        sent = (await s.execute(select(SmsOutbox.msisdn, SmsOutbox.kind, SmsOutbox.body))).all()
        stored = await s.scalar(select(func.count()).select_from(SmsInbound))
    answers = {n: sum(1 for m, k, _b in sent if m == n and k == "reply:help") for n in case.answers}
    notices = {n: sum(1 for m, k, _b in sent if m == n and k == "reply:limited") for n in case.notices}
    assert (answers, notices, stored) == (case.answers, case.notices, case.stored)
    assert len(sent) == sum(case.answers.values()) + sum(case.notices.values()), "nothing else was queued"
    assert all(b == too_many_text() for _m, k, b in sent if k == "reply:limited")
    assert await limited(client) == {k: float(n) for k, n in case.metrics.items()}


# -- every webhook, per source address -------------------------------------------------------------

USSD_HOP = ("/ussd/africastalking", lambda: at_form(new_session_id()))
EVENTS = ("/ussd/africastalking/events", lambda: {"sessionId": uuid.uuid4().hex, "status": "Success"})
SMS_IN = ("/sms/africastalking/inbound", lambda: {"from": A, "id": uuid.uuid4().hex, "text": "HELP"})
DELIVERY = ("/sms/africastalking/delivery", lambda: {"id": "ATXid_nobody", "status": "Success"})
CALLBACK = ("/payments/mtn/callback", lambda: b'{"externalId": "no-such", "status": "SUCCESSFUL"}')
METER = ("/meters/readings", lambda: b"{}")
HEALTH, METRICS = ("/healthz", None), ("/metrics", None)


@dataclass
class WebhookCase:
    label: str
    limits: dict
    requests: list[tuple[tuple, str | None]]     # ((path, body), X-Forwarded-For)
    expect: str                                  # one letter a request: . not refused, R 429


WEBHOOKS = [
    WebhookCase("a flood from one address is refused", {"rate_webhook_per_ip": 3}, [(USSD_HOP, None)] * 5,
                "...RR"),
    WebhookCase("one budget across every webhook", {"rate_webhook_per_ip": 6},
                [(r, None) for r in (USSD_HOP, EVENTS, SMS_IN, DELIVERY, CALLBACK, METER, USSD_HOP, METER)],
                "......RR"),
    WebhookCase("health and metrics are not webhooks", {"rate_webhook_per_ip": 1},
                [(HEALTH, None), (METRICS, None), (HEALTH, None)], "..."),
    WebhookCase("X-Forwarded-For is ignored unless the proxy is trusted", {"rate_webhook_per_ip": 2},
                [(USSD_HOP, f"203.0.113.{n}") for n in range(4)], "..RR"),
    WebhookCase("behind a trusted proxy each client has its own budget",
                {"rate_webhook_per_ip": 2, "trusted_proxies": "127.0.0.1/32, ::1"},
                [(USSD_HOP, "203.0.113.1")] * 3 + [(USSD_HOP, "203.0.113.2")] * 2, "..R.."),
    WebhookCase("a client cannot pick its address by writing the header itself",
                {"rate_webhook_per_ip": 2, "trusted_proxies": "127.0.0.0/8"},
                [(USSD_HOP, f"198.51.100.{n}, 203.0.113.1") for n in range(3)], "..R"),
]


@pytest.mark.parametrize("case", WEBHOOKS, ids=[c.label for c in WEBHOOKS])
async def test_webhook_limits(case: WebhookCase, aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(**case.limits)))
    seen = ""
    for (path, body), forwarded in case.requests:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        resp = await (client.get(path, headers=headers) if body is None
                      else client.post(path, data=body(), headers=headers))
        text = await resp.text()
        seen += "R" if resp.status == 429 else "."
        if resp.status == 429:
            assert text == "too many requests from this address\n"
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert seen == case.expect
    assert (await limited(client)).get("webhook_ip", 0) == case.expect.count("R")


BAD_HOP = ("/ussd/africastalking", lambda: {"sessionId": new_session_id(), "text": ""})   # no phoneNumber


@pytest.mark.parametrize("limits,requests,expect,metrics", [
    # A hop's address and number are counted in one call: the address first (429), then the number (END).
    ({"rate_webhook_per_ip": 3, "rate_ussd_sessions_per_msisdn": 1}, [USSD_HOP] * 4, [200, 200, 200, 429],
     {"ussd_session": 2, "webhook_ip": 1}),
    # A hop the edge guard refuses still spends its address's budget, and is answered 429 once over it.
    ({"rate_webhook_per_ip": 2}, [BAD_HOP, BAD_HOP, BAD_HOP, USSD_HOP], [400, 400, 429, 429],
     {"webhook_ip": 2}),
    # One budget for hops and the other webhooks (here AT's end-of-session notices).
    ({"rate_webhook_per_ip": 2}, [EVENTS, USSD_HOP, EVENTS, USSD_HOP], [200, 200, 429, 429],
     {"webhook_ip": 2}),
])
async def test_a_hops_address_and_number_counted_together(limits, requests, expect, metrics, aiohttp_client,
                                                          settings):
    client = await aiohttp_client(create_app(settings.with_(**limits)))
    got = []
    for path, body in requests:
        form = body()
        if path == USSD_HOP[0] and "phoneNumber" in form:
            form["phoneNumber"] = A                 # one number: its session budget is the one spent
        got.append((await client.post(path, data=form)).status)
    assert got == expect
    assert await limited(client) == {k: float(n) for k, n in metrics.items()}


@pytest.mark.parametrize("env,field,value", [
    ({}, "rate_ussd_sessions_per_msisdn", 20),
    ({"RATE_USSD_SESSIONS_PER_MSISDN": "5"}, "rate_ussd_sessions_per_msisdn", 5),
    ({"RATE_USSD_HOPS_PER_MSISDN": "0"}, "rate_ussd_hops_per_msisdn", 0),
    ({"RATE_SMS_IN_PER_MSISDN": "50"}, "rate_sms_in_per_msisdn", 50),
    ({"RATE_SMS_REPLIES_PER_MSISDN": "7"}, "rate_sms_replies_per_msisdn", 7),
    ({"RATE_WEBHOOK_PER_IP": "100"}, "rate_webhook_per_ip", 100),
    ({"RATE_STATUS_QUERIES_PER_PAYMENT": "2"}, "rate_status_queries_per_payment", 2),
    ({"TRUSTED_PROXIES": "10.0.0.0/8"}, "trusted_proxies", "10.0.0.0/8"),
])
def test_limits_come_from_the_environment(env, field, value):
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize("raw,ok", [("", True), ("10.0.0.1", True), ("10.0.0.0/8, fd00::/8", True),
                                    ("10.0.0.0/33", False), ("proxy.local", False)])
def test_trusted_proxies_are_addresses_or_cidrs(raw, ok):
    if ok:
        assert len(trusted_networks(raw)) == raw.count(",") + bool(raw)
    else:
        with pytest.raises(SystemExit, match="TRUSTED_PROXIES"):
            trusted_networks(raw)


# -- a payment's callbacks, per reference ----------------------------------------------------------

@pytest.fixture
async def mtn_client(aiohttp_client, settings):
    fake = FakeMtn(auto=False)
    async with running(fake) as url:
        async def make(**limits):
            client = await aiohttp_client(create_app(settings.with_(
                mtn_base_url=url, mtn_api_user=fake.api_user, mtn_api_key=fake.api_key,
                mtn_subscription_key=fake.subscription_key, **limits)))
            user = await users.register(client.app[appkeys.DB], parse_msisdn("+260961500001"),
                                               "Musonda", "en", hash_user_pin("4826", 16))
            return client, fake, user
        yield make


@pytest.mark.parametrize("cap,callbacks,queries", [(3, 10, 3), (5, 2, 2), (0, 6, 6)])
async def test_a_callback_flood_for_one_payment_asks_the_provider_at_most_the_cap(mtn_client, cap, callbacks,
                                                                                  queries):
    client, fake, user = await mtn_client(rate_status_queries_per_payment=cap)
    payments = client.app[appkeys.PAYMENTS]
    first, second = await payments.deposit(user, 5000, key="cb-1"), await payments.deposit(user, 700, key="cb-2")
    body = lambda ref: f'{{"externalId": "{ref}", "status": "SUCCESSFUL"}}'.encode()    # noqa: E731
    for _ in range(callbacks):
        resp = await client.post("/payments/mtn/callback", data=body(first.reference))
        assert resp.status == 200 and (await resp.json())["state"] == "pending"
    assert fake.status_requests == queries
    await client.post("/payments/mtn/callback", data=body(second.reference))
    assert fake.status_requests == queries + 1, "another payment's callback is still followed up"
    await payments.reconcile(timedelta(0), timedelta(hours=1))
    assert fake.status_requests == queries + 3, "the reconciliation job asks about both, uncapped"
    assert (await limited(client)).get("status_query", 0) == callbacks - queries
