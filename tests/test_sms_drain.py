"""Issue 18 (sms): the outbox drain. One job claims due rows a batch at a time and sends them side by side
over kept-alive connections. What must hold:

- workers claiming at once never take one row twice (FOR UPDATE SKIP LOCKED on PostgreSQL, one writer on
  SQLite), and every due row is taken by one of them;
- a worker killed mid-batch: the messages it sent are recorded from the journal and never sent again, the
  ones it had not started are sent once after the lease, by the sweeper's re-dispatch;
- a retry waits in its row (5 s, 30 s, ...): no drain sends it early, the sweeper does not count it as
  left behind, a re-dispatch of the row sends it now;
- the SDK's requests go over a few kept-alive connections, not one connection per message;
- new rows wake one drain job, however many units of work commit before it starts.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, update

from enerlectra import faults
from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import SmsOutbox
from enerlectra.domain import outbox
from enerlectra.domain.work import Followups, unit_of_work
from enerlectra.jobs import DRAIN_JOB, SMS, SWEEP_JOB, drain_started, make_queue
from sms import sending
from sms.gateways import AfricasTalkingGateway
from tests.helpers import committed_only
from tests.jobs import run_jobs
from tests.test_sms_send import queue_sms, rows
from ussd_app import appkeys

LEASE = timedelta(seconds=60)


def numbers(n: int) -> list[str]:
    return [f"+2609719{i:05d}" for i in range(n)]


@pytest.fixture
async def db(settings):
    engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def commit_rows(db, n: int, body=lambda i: f"Receipt {i}") -> list[int]:
    async with committed_only(db) as s:
        made = [await outbox.add(s, number, body(i), "test", essential=True) for i, number in enumerate(numbers(n))]
    return [r.id for r in made]


async def queue_distinct(client, n: int) -> None:
    """n rows of distinct texts, committed in one unit of work of the app (which wakes the drain)."""
    async with unit_of_work(client.app[appkeys.DB]) as s:
        for i, number in enumerate(numbers(n)):
            await outbox.add(s, number, f"Receipt {i}: 10.00 ZMW", "test", essential=True)


async def claim(db, limit: int, first: int | None = None) -> list[int]:
    async with db() as s, s.begin():
        return [r.id for r in await outbox.claim_due(s, LEASE, limit, first=first)]


# -- the claim ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_rows, claimers, limit", [(150, 4, 100), (40, 8, 7), (5, 6, 100), (0, 3, 10)])
async def test_workers_claiming_at_once_never_take_one_row_twice(db, n_rows, claimers, limit):
    ids = await commit_rows(db, n_rows)
    taken: list[list[int]] = []

    async def worker() -> None:            # claims until nothing is due, as a drain does
        mine: list[int] = []
        while batch := await claim(db, limit):
            mine += batch
            await asyncio.sleep(0)
        taken.append(mine)

    await asyncio.gather(*(worker() for _ in range(claimers)))
    every = [i for mine in taken for i in mine]
    assert len(every) == len(set(every)), "a row claimed by two workers"
    assert sorted(every) == ids, "every due row claimed"
    async with db() as s:
        claimed = (await s.scalars(select(SmsOutbox).order_by(SmsOutbox.id))).all()
    assert {(r.status, r.attempts) for r in claimed} <= {("sending", 1)}


async def test_a_claim_skips_rows_waiting_out_a_retry_unless_named(db):
    waiting, due, later = await commit_rows(db, 3)
    async with db() as s, s.begin():
        await s.execute(update(SmsOutbox).where(SmsOutbox.id.in_([waiting, later]))
                        .values(lease_until=outbox.now() + timedelta(seconds=30)))
    assert await claim(db, 10) == [due]
    assert await claim(db, 10, first=waiting) == [waiting], "a re-dispatch of a row means now"
    assert await claim(db, 10) == []


@pytest.mark.parametrize("bodies, expected", [
    (["a", "b", "c"], [[0], [1], [2]]),                       # distinct texts: a request each
    (["a", "a", "b", "a"], [[0, 1, 3], [2]]),                 # one text: one request for its numbers
])
def test_a_batch_becomes_one_request_per_text(bodies, expected):
    made = [SmsOutbox(id=i, msisdn=n, body=b) for i, (n, b) in enumerate(zip(numbers(len(bodies)), bodies))]
    assert [[r.id for r in group] for group in outbox.requests_for(made)] == expected


def test_a_number_twice_with_one_text_is_two_requests_and_a_request_holds_100():
    same = [SmsOutbox(id=i, msisdn=numbers(1)[0], body="x") for i in range(2)]
    assert [[r.id for r in g] for g in outbox.requests_for(same)] == [[0], [1]]
    many = [SmsOutbox(id=i, msisdn=n, body="x") for i, n in enumerate(numbers(250))]
    assert [len(g) for g in outbox.requests_for(many)] == [100, 100, 50]


# -- sending -----------------------------------------------------------------------------------------------

async def test_many_messages_go_over_a_few_kept_alive_connections(at_client, at_settings, fake_at):
    fake, _url = fake_at
    n = 3 * sending.SENDERS
    await queue_distinct(at_client, n)
    await run_jobs(at_settings)
    assert fake.requests == n and len(fake.messages) == n
    assert len(fake.peers) <= sending.SENDERS, f"{len(fake.peers)} connections for {n} messages"
    assert {r.status for r in await rows(at_client)} <= {"sent", "delivered"}


async def test_a_request_not_started_by_its_deadline_is_handed_back_untried(at_settings, fake_at):
    fake, url = fake_at
    gateway = AfricasTalkingGateway(at_settings.at_username, at_settings.at_api_key, base_url=url)
    batch = [SmsOutbox(id=i, msisdn=n, body=f"t{i}") for i, n in enumerate(numbers(3))]
    journaled: list[dict] = []
    with ThreadPoolExecutor(2) as pool:
        late = await asyncio.to_thread(sending.send_batch, gateway, outbox.requests_for(batch),
                                       lambda _g, by_id: journaled.append(by_id), time.monotonic() - 1, pool)
        on_time = await asyncio.to_thread(sending.send_batch, gateway, outbox.requests_for(batch),
                                          lambda _g, by_id: journaled.append(by_id), time.monotonic() + 60, pool)
    assert (late.answers, sorted(late.untried), fake.requests) == ({}, [0, 1, 2], 3)
    assert sorted(on_time.answers) == [0, 1, 2] and on_time.untried == []
    assert sorted(i for by_id in journaled for i in by_id) == [0, 1, 2], "each answer journaled once"


# -- a crash mid-batch -------------------------------------------------------------------------------------

@pytest.fixture
def kill_after_first_answer():
    faults.arm("sms.send.after_gateway")
    yield
    faults.disarm()


async def test_a_worker_killed_mid_batch_sends_each_message_once(at_client, at_settings, fake_at,
                                                                 kill_after_first_answer):
    """Distinct texts, one batch: the worker dies when the first answer is journaled. The requests already
    in flight finish (their answers journaled too); none starts after. The sweeper records what was sent
    from the journal and dispatches the rest again, once the lease is over."""
    fake, _url = fake_at
    settings = at_settings.with_(sms_lease_seconds=1)
    n = 4 * sending.SENDERS
    await queue_distinct(at_client, n)
    await run_jobs(settings)
    before = len(fake.messages)
    assert 1 <= before <= sending.SENDERS < n, "died after the first answer: the rest never started"
    assert {r.status for r in await rows(at_client)} == {"sending"}
    sent_before = {m.to for m in fake.messages}

    await asyncio.sleep(1.2)                                  # the lease runs out: the sweeper takes over
    queue = make_queue(settings.redis_url, settings.queue_name, SMS)
    queue.enqueue(SWEEP_JOB)
    queue.connection.close()
    await run_jobs(settings)                                  # the sweep, and the re-dispatched rows' jobs
    assert sorted(m.to for m in fake.messages) == numbers(n), "each number exactly once"
    final = await rows(at_client)
    assert {r.status for r in final} <= {"sent", "delivered"} and all(r.gateway_message_id for r in final)
    assert {r.msisdn: r.attempts for r in final} == {m: 1 if m in sent_before else 2 for m in numbers(n)}
    journal = redis.Redis.from_url(settings.redis_url)
    assert list(journal.scan_iter(match=f"{settings.redis_prefix}sms-answer:*")) == [], "recorded: forgotten"
    journal.close()


# -- retries wait in the row -------------------------------------------------------------------------------

async def test_a_retry_waits_its_turn_and_a_redispatch_sends_it_now(at_client, at_settings, fake_at):
    fake, _url = fake_at
    fake.fail("http500")
    [outbox_id] = await queue_sms(at_client, numbers(1)[0])
    await run_jobs(at_settings)
    [row] = await rows(at_client)
    wait = (row.lease_until.replace(tzinfo=None) - outbox.now().replace(tzinfo=None)).total_seconds()
    assert row.status == "queued" and row.attempts == 1 and 0 < wait <= outbox.RETRY_SECONDS[0]
    await queue_sms(at_client, numbers(2)[1], body="Another")     # wakes a drain: it leaves the waiting row
    await run_jobs(at_settings)
    assert fake.requests == 2 and [m.to for m in fake.messages] == [numbers(2)[1]]
    async with unit_of_work(at_client.app[appkeys.DB]) as s:      # the sweeper: not left behind, only waiting
        assert await outbox.stale(s, timedelta(seconds=0)) == []
    await at_client.app[appkeys.DISPATCH](Followups(sends=[(outbox_id, 2)]))
    await run_jobs(at_settings)
    [row, _other] = await rows(at_client)
    assert row.status in ("sent", "delivered") and row.attempts == 2 and fake.requests == 3


@pytest.mark.parametrize("attempts, seconds", [(1, 5), (2, 30), (3, 120), (4, 600), (9, 600)])
def test_the_retry_waits(attempts, seconds):
    assert outbox.retry_wait(attempts) == timedelta(seconds=seconds)


# -- waking the drain --------------------------------------------------------------------------------------

async def test_new_rows_wake_one_drain_until_it_starts(client, settings):
    queue = make_queue(settings.redis_url, settings.queue_name, SMS)
    try:
        for i in range(5):                                   # five commits, one drain job waiting
            async with unit_of_work(client.app[appkeys.DB]) as s:
                await outbox.add(s, numbers(5)[i], f"News {i}", "test", essential=True)
        assert [j.func_name for j in queue.jobs] == [DRAIN_JOB]
        drain_started(queue)                                 # it starts: the next commit needs another
        async with unit_of_work(client.app[appkeys.DB]) as s:
            await outbox.add(s, numbers(6)[5], "News 5", "test", essential=True)
        assert [j.func_name for j in queue.jobs] == [DRAIN_JOB, DRAIN_JOB]
    finally:
        queue.connection.close()
    await run_jobs(settings)
    assert [r.status for r in await rows(client)] == ["sent"] * 6


async def test_a_number_the_sdk_refuses_fails_alone_and_its_batch_goes_out(at_client, at_settings, fake_at):
    """The SDK raises ValueError for a whole request with one malformed number: that row fails, the rest of
    its text's request and of the batch are sent."""
    fake, _url = fake_at
    good = numbers(3)
    await queue_sms(at_client, good[0], "0971", good[1], body="Same text")
    await queue_sms(at_client, good[2], body="Other text")
    await run_jobs(at_settings)
    by_number = {r.msisdn: r for r in await rows(at_client)}
    assert (by_number["0971"].status, by_number["0971"].failure_reason) == ("failed", "InvalidPhoneNumber")
    assert sorted(m.to for m in fake.messages) == good
    assert {by_number[n].status for n in good} <= {"sent", "delivered"}


@pytest.mark.parametrize("env, proxied", [
    ({"HTTPS_PROXY": "http://proxy.example:3128"}, True),
    ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "api.africastalking.com"}, False),
    ({}, False),
])
def test_the_kept_alive_session_still_honours_the_proxy_environment(monkeypatch, env, proxied):
    """The session reads the proxy variables once instead of per request (no ~/.netrc lookups per send)."""
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    gateway = AfricasTalkingGateway("enerlectra", "key")
    session = gateway.service._session()
    assert session.trust_env is False
    assert (session.proxies.get("https") == "http://proxy.example:3128") == proxied
