"""Hand work to the workers after the commit: new SMS wake the outbox drain (one drain job waiting at most,
however many rows are committed meanwhile), a row dispatched again gets a job of its own; one job per question
to the advisor, one per proposal to pay. Units of work (enerlectra/domain/work.py) are the only callers, with
the sweepers that dispatch left-behind rows again.

Three queues per deployment, `<ENERLECTRA_QUEUE>-money`, `-sms` and `-advisor`: a worker takes them in that
order (rq dequeues from the first non-empty queue), so an SMS backlog never delays reconciling money.

A lost enqueue (Redis down, a crash right after commit) is not lost work: the sweepers find rows still
queued and dispatch them again.
"""
from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

if TYPE_CHECKING:
    from enerlectra.domain.work import Followups

log = logging.getLogger(__name__)

SEND_JOB = "workers.sms.send_outbox"          # by path: the web app never imports the workers
DRAIN_JOB = "workers.sms.drain_outbox"
SWEEP_JOB = "workers.sms.sweep_outbox"
RECONCILE_JOB = "workers.payments.reconcile_payments"
ANSWER_JOB = "workers.advisor.answer_question"
ANSWER_SWEEP_JOB = "workers.advisor.sweep_questions"
EXPIRE_JOB = "workers.market.expire_orders"
PROPOSALS_JOB = "workers.clusters.run_proposals"
ANCHOR_JOB = "workers.ledger.anchor_ledger"
PAY_JOB = "workers.clusters.pay_proposal"
FOLD_ENDS_JOB = "workers.analytics.fold_session_ends"
REMIND_RENTALS_JOB = "workers.rentals.remind_rentals"
LOST_RENTALS_JOB = "workers.rentals.sweep_lost_rentals"
MAX_ATTEMPTS = 5                             # claims of one row before it is marked failed
WAKE_SECONDS = 60           # a drain job waiting longer than this (a money backlog) may get a second one beside it
SMS_JOB_TIMEOUT = 600       # rq's bound on one SMS job (a drain stops claiming after DRAIN_SECONDS)

MONEY, SMS, ADVISOR = "money", "sms", "advisor"
KINDS = (MONEY, SMS, ADVISOR)                # a worker's order of preference: money first
JOB_KIND = {RECONCILE_JOB: MONEY, PAY_JOB: MONEY, PROPOSALS_JOB: MONEY, EXPIRE_JOB: MONEY, ANCHOR_JOB: MONEY,
            SEND_JOB: SMS, DRAIN_JOB: SMS, SWEEP_JOB: SMS, ANSWER_JOB: ADVISOR, ANSWER_SWEEP_JOB: ADVISOR,
            FOLD_ENDS_JOB: ADVISOR,       # analytics can wait: last in a worker's order
            REMIND_RENTALS_JOB: SMS, LOST_RENTALS_JOB: MONEY}      # a lost bank is billed: money


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
    """Hand (outbox id, dispatch) pairs to the workers. Rows on their first dispatch wake the drain (one job
    claims them in batches: an rq job per message cost more than sending it); a row dispatched again (the
    sweeper's, an operator's) gets a job of its own that sends it now, whatever its retry wait, and drains
    what else is due. Returns how many jobs were enqueued."""
    new = wake_drain(queue) if any(dispatch <= 1 for _id, dispatch in items) else 0
    for outbox_id, dispatch in items:
        if dispatch <= 1:
            continue
        try:
            queue.enqueue(SEND_JOB, outbox_id, job_id=send_job_id(queue, outbox_id, dispatch), unique=True,
                          result_ttl=3600, failure_ttl=7 * 86400, job_timeout=SMS_JOB_TIMEOUT)
            new += 1
        except DuplicateJobError:
            pass
    return new


def drain_waiting_key(queue: Queue) -> str:
    """Set while a drain job waits in `queue` (under rq's prefix, named after the queue, like its keys)."""
    return f"rq:enerlectra:{queue.name}:drain-waiting"


def wake_drain(queue: Queue) -> int:
    """Enqueue a drain job unless one is waiting already (it will claim every row committed before it starts:
    the drain clears the mark before its first claim). Returns 1 when one was enqueued."""
    key = drain_waiting_key(queue)
    if not queue.connection.set(key, 1, nx=True, ex=WAKE_SECONDS):
        return 0
    try:
        queue.enqueue(DRAIN_JOB, result_ttl=600, failure_ttl=7 * 86400, job_timeout=SMS_JOB_TIMEOUT)
    except BaseException:
        queue.connection.delete(key)            # no job waits: the next commit wakes one
        raise
    return 1


def drain_started(queue: Queue) -> None:
    """A drain job starts: rows committed from now on need another (see wake_drain)."""
    queue.connection.delete(drain_waiting_key(queue))


def wake_drain_at(queue: Queue, when: datetime) -> None:
    """A drain at `when` (rows waiting out a retry); one per second at most. Needs rq's scheduler (a worker
    started by `enerlectra worker`); without one the sweeper finds the rows once they are due."""
    at = datetime.fromtimestamp(math.ceil(when.timestamp()), tz=timezone.utc)
    try:
        queue.enqueue_at(at, DRAIN_JOB, job_id=f"{queue.name}-drain-at-{int(at.timestamp())}", unique=True,
                         result_ttl=600, failure_ttl=7 * 86400, job_timeout=SMS_JOB_TIMEOUT)
    except DuplicateJobError:
        pass


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


def enqueue_followups(queues: dict[str, Queue], work: "Followups") -> None:
    """Everything one committed unit of work queued: its SMS, its questions, its payouts (enerlectra.domain.work)."""
    if work.sends:
        enqueue_sends(queues[SMS], work.sends)
    if work.questions:
        enqueue_answers(queues[JOB_KIND[ANSWER_JOB]], work.questions)
    if work.payouts:       # passed proposals to pay from their pool (the scheduled proposals job pays any left)
        enqueue_each(queues[JOB_KIND[PAY_JOB]], PAY_JOB, "pay", work.payouts)


class Dispatcher:
    """The web app's job sink for units of work (rq is synchronous: keep it off the loop). A failure raises:
    the unit of work logs it once and leaves the rows to the sweepers."""

    def __init__(self, queues: dict[str, Queue] | None):
        self.queues = queues

    async def __call__(self, work: "Followups") -> None:
        if not work or self.queues is None:
            return
        await asyncio.to_thread(enqueue_followups, self.queues, work)
