"""Item 15: a worker killed after the gateway accepted a 100-recipient request does not send them again:
each message's answer is journaled first, and the sweeper records it instead of re-sending."""
from __future__ import annotations

import asyncio

import pytest
import redis
from sqlalchemy import select

from enerlectra import faults
from enerlectra.db.models import SmsOutbox
from enerlectra.jobs import SMS, SWEEP_JOB, make_queue
from tests.jobs import run_jobs
from tests.test_sms_send import queue_sms
from ussd_app import appkeys

NUMBERS = [f"+2609718{i:05d}" for i in range(100)]
BODY = "Cluster Kabwata: the vote on #3 passed"


@pytest.fixture
def kill_after_gateway():
    faults.arm("sms.send.after_gateway")
    yield
    faults.disarm()


async def test_a_worker_killed_after_the_gateway_accepted_100_sends_each_once(at_client, at_settings, fake_at,
                                                                                kill_after_gateway):
    fake, _url = fake_at
    settings = at_settings.with_(sms_lease_seconds=1)
    await queue_sms(at_client, *NUMBERS, body=BODY)
    await run_jobs(settings)                         # one request of 100, accepted; then the worker dies
    assert len(fake.messages) == 100
    async with at_client.app[appkeys.DB]() as s:
        assert set((await s.scalars(select(SmsOutbox.status))).all()) == {"sending"}
    await asyncio.sleep(1.2)                         # the lease runs out: the sweeper takes over
    queue = make_queue(settings.redis_url, settings.queue_name, SMS)
    queue.enqueue(SWEEP_JOB)
    queue.connection.close()
    await run_jobs(settings)
    await run_jobs(settings)                         # anything the sweep dispatched again
    assert len(fake.messages) == 100, f"{len(fake.messages) - 100} sent twice"
    assert sorted(m.to for m in fake.messages) == sorted(NUMBERS)
    async with at_client.app[appkeys.DB]() as s:
        rows = (await s.scalars(select(SmsOutbox))).all()
    assert {r.status for r in rows} <= {"sent", "delivered"}
    assert all(r.gateway_message_id for r in rows) and all(r.attempts == 1 for r in rows)
    journal = redis.Redis.from_url(settings.redis_url)
    assert list(journal.scan_iter(match=f"{settings.redis_prefix}sms-answer:*")) == [], "recorded: forgotten"
    journal.close()
