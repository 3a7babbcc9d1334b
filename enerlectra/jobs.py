"""Hand work to the workers after the commit: one rq job per outbox row and dispatch, one per question
to the advisor.

Three queues per deployment, `<ENERLECTRA_QUEUE>-money`, `-sms` and `-advisor`: a worker takes them in that
order (rq dequeues from the first non-empty queue), so an SMS backlog never delays reconciling money.

A lost enqueue (Redis down, a crash right after commit) is not lost work: the sweepers find rows still
queued and dispatch them again.
"""
from __future__ import annotations

import asyncio
import logging

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

SEND_JOB = "workers.sms.send_outbox"          # by path: the web app never imports the workers
SWEEP_JOB = "workers.sms.sweep_outbox"
RECONCILE_JOB = "workers.payments.reconcile_payments"
ANSWER_JOB = "workers.advisor.answer_question"
ANSWER_SWEEP_JOB = "workers.advisor.sweep_questions"
EXPIRE_JOB = "workers.market.expire_orders"
PROPOSALS_JOB = "workers.clusters.run_proposals"
ANCHOR_JOB = "workers.ledger.anchor_ledger"
PAY_JOB = "workers.clusters.pay_proposal"
SEND_RETRY = Retry(max=4, interval=[5, 30, 120, 600])
MAX_ATTEMPTS = 5                             # claims of one row before it is marked failed

MONEY, SMS, ADVISOR = "money", "sms", "advisor"
KINDS = (MONEY, SMS, ADVISOR)                # a worker's order of preference: money first
JOB_KIND = {RECONCILE_JOB: MONEY, PAY_JOB: MONEY, PROPOSALS_JOB: MONEY, EXPIRE_JOB: MONEY, ANCHOR_JOB: MONEY,
            SEND_JOB: SMS, SWEEP_JOB: SMS, ANSWER_JOB: ADVISOR, ANSWER_SWEEP_JOB: ADVISOR}


def queue_name(base: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown queue kind {kind!r}")
    return f"{base}-{kind}"


def make_queue(redis_url: str, base: str, kind: str) -> Queue:
    """The `kind` queue (money, sms, advisor) of the deployment whose queues are named after `base`."""
    return Queue(queue_name(base, kind), connection=redis_client(redis_url), serializer=JSONSerializer)


def make_queues(connection: redis.Redis, base: str) -> dict[str, Queue]:
    """Every queue of the deployment on one connection, in the worker's order (money first)."""
    return {kind: Queue(queue_name(base, kind), connection=connection, serializer=JSONSerializer) for kind in KINDS}


def redis_client(url: str) -> redis.Redis:
    """A synchronous client for rq that survives a Redis restart (see enerlectra.redis_client)."""
    from enerlectra.redis_client import sync_client

    return sync_client(url)


def send_job_id(queue: Queue, outbox_id: int, dispatch: int) -> str:
    """Unique per row and dispatch (rq ids allow letters, digits, '_' and '-')."""
    return f"{queue.name}-sms-{outbox_id}-{dispatch}"


def enqueue_sends(queue: Queue, items: list[tuple[int, int]]) -> int:
    """Enqueue (outbox id, dispatch) pairs; an id already enqueued is skipped. Returns how many were new."""
    new = 0
    for outbox_id, dispatch in items:
        try:
            queue.enqueue(SEND_JOB, outbox_id, job_id=send_job_id(queue, outbox_id, dispatch), unique=True,
                          retry=SEND_RETRY, result_ttl=3600, failure_ttl=7 * 86400)
            new += 1
        except DuplicateJobError:
            pass
    return new


def enqueue_each(queue: Queue, job: str, tag: str, ids: list[int], round_: str = "0") -> int:
    """One `job` per id, id'd `<queue>-<tag>-<id>-<round>` (a job that finds its work done does nothing)."""
    new = 0
    for item in ids:
        try:
            queue.enqueue(job, item, job_id=f"{queue.name}-{tag}-{item}-{round_}", unique=True,
                          result_ttl=3600, failure_ttl=7 * 86400, job_timeout=300)
            new += 1
        except DuplicateJobError:
            pass
    return new


def enqueue_answers(queue: Queue, question_ids: list[int], round_: str = "0") -> int:
    return enqueue_each(queue, ANSWER_JOB, "ask", question_ids, round_)


class Dispatcher:
    """The async face of enqueue_sends for the web app (rq is synchronous: keep it off the loop)."""

    def __init__(self, queues: dict[str, Queue] | None):
        self.queues = queues

    async def __call__(self, items: list[tuple[int, int]]) -> None:
        if not items or self.queues is None:
            return
        try:
            await asyncio.to_thread(enqueue_sends, self.queues[SMS], items)
        except redis.RedisError:
            log.exception("enqueue of %d SMS failed; the outbox sweeper will send them", len(items))

    async def answers(self, question_ids: list[int]) -> None:
        await self._each(ANSWER_JOB, "ask", question_ids, "the advisor sweeper will answer them")

    async def payouts(self, proposal_ids: list[int]) -> None:
        """Passed proposals to pay from their pool (the scheduled proposals job pays any left behind)."""
        await self._each(PAY_JOB, "pay", proposal_ids, "the proposals job will pay them")

    async def _each(self, job: str, tag: str, ids: list[int], fallback: str) -> None:
        if not ids or self.queues is None:
            return
        try:
            await asyncio.to_thread(enqueue_each, self.queues[JOB_KIND[job]], job, tag, ids)
        except redis.RedisError:
            log.exception("enqueue of %d %s job(s) failed; %s", len(ids), tag, fallback)
