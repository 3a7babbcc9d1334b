"""Item 12: one queue per kind of job (money, sms, advisor); a worker takes money first, so an SMS backlog
never delays reconciling payments."""
from __future__ import annotations

import pytest
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from enerlectra.db.models import SmsOutbox
from enerlectra.domain import outbox
from enerlectra.domain.work import unit_of_work
from enerlectra.jobs import (ADVISOR, ANCHOR_JOB, ANSWER_JOB, ANSWER_SWEEP_JOB, DRAIN_JOB, EXPIRE_JOB,
                             JOB_KIND, KINDS, MONEY, PAY_JOB, PROPOSALS_JOB, RECONCILE_JOB, SEND_JOB, SMS,
                             SWEEP_JOB, make_queue, queue_name)
from tests.jobs import run_jobs
from ussd_app import appkeys
from workers.main import ForkingWorker, InProcessWorker, ThreadedWorker

BACKLOG = 40


@pytest.mark.parametrize("job, kind", [
    (RECONCILE_JOB, MONEY), (PAY_JOB, MONEY), (PROPOSALS_JOB, MONEY), (EXPIRE_JOB, MONEY), (ANCHOR_JOB, MONEY),
    (SEND_JOB, SMS), (DRAIN_JOB, SMS), (SWEEP_JOB, SMS), (ANSWER_JOB, ADVISOR), (ANSWER_SWEEP_JOB, ADVISOR),
])
def test_every_job_has_its_queue(job, kind):
    assert JOB_KIND[job] == kind


def test_queue_names_and_the_workers_order():
    assert KINDS == (MONEY, SMS, ADVISOR)
    assert [queue_name("enerlectra", k) for k in KINDS] == ["enerlectra-money", "enerlectra-sms",
                                                              "enerlectra-advisor"]
    with pytest.raises(ValueError):
        queue_name("enerlectra", "everything")


async def test_an_sms_backlog_does_not_delay_a_money_job(client, settings):
    async with unit_of_work(client.app[appkeys.DB]) as s:     # distinct texts: a drain job wakes after commit
        rows = [await outbox.add(s, f"+2609718{i:05d}", f"News item {i}", "test", essential=True)
                for i in range(BACKLOG)]                               # the backlog, queued first
    money = make_queue(settings.redis_url, settings.queue_name, MONEY)
    reconcile = money.enqueue(RECONCILE_JOB)                           # then one money job
    money.connection.close()
    await run_jobs(settings)
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        sms_queue = make_queue(settings.redis_url, settings.queue_name, SMS)
        sends = [Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
                 for job_id in FinishedJobRegistry(queue=sms_queue).get_job_ids()]
        sms_queue.connection.close()
        reconcile = Job.fetch(reconcile.id, connection=connection, serializer=JSONSerializer)
    finally:
        connection.close()
    async with client.app[appkeys.DB]() as s:
        statuses = (await s.scalars(select(SmsOutbox.status).where(SmsOutbox.id.in_([r.id for r in rows])))).all()
    assert statuses == ["sent"] * BACKLOG and [j.func_name for j in sends] == [DRAIN_JOB]
    assert reconcile.get_status() == "finished"
    assert reconcile.ended_at <= min(j.started_at for j in sends), "the money job waited behind the SMS backlog"


@pytest.mark.parametrize("worker_class, longest_read", [(ThreadedWorker, None), (InProcessWorker, 1),
                                                         (ForkingWorker, 1)])
def test_no_worker_waits_out_a_long_read_of_its_command_channel(settings, worker_class, longest_read):
    """rq listens for commands (shutdown, kill a horse) with a 60 s read, and redis-py 8 joins that reader at
    teardown: when the reply to UNSUBSCRIBE woke it before it saw the stop flag, it read again and the worker
    sat idle up to 60 s (the journeys and this suite stalled by multiples of 60 s). The in-process burst does
    not listen; the others read 1 s at a time."""
    connection = redis.Redis.from_url(settings.redis_url)
    worker = worker_class([make_queue(settings.redis_url, settings.queue_name, MONEY)], connection=connection,
                          serializer=JSONSerializer, name=f"{settings.queue_name}-listen-test")
    try:
        worker.subscribe()
        if longest_read is None:
            assert worker.pubsub_thread is None
        else:
            assert worker.pubsub_thread.sleep_time <= longest_read
    finally:
        worker.unsubscribe()
        connection.close()
