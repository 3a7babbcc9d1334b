"""SMS jobs: drain the outbox (claim due rows a batch at a time, send them side by side, record each batch in
one transaction), and sweep rows left behind.

What a crash costs (the guarantee): a row is claimed by one worker at a time, and each accepted request's
answers are journaled in Redis (sms/answers.py) the moment they arrive, so a worker killed mid-batch leaves
- the rows it had sent: recorded by the sweeper from the journal, never sent again;
- the rows it had not started: `sending` until their lease runs out, then queued again and sent once;
- the requests in flight when it died, or answered but not yet journaled (at most `sending.SENDERS` requests,
  each one message, or one text to up to 100 numbers): sent again (AT has no idempotency key for SMS).
"""
from __future__ import annotations

import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from sqlalchemy import bindparam, select, update

from enerlectra import faults
from enerlectra.db.models import SmsOutbox
from enerlectra.domain import outbox
from enerlectra.domain.work import unit_of_work
from enerlectra.jobs import (MAX_ATTEMPTS, SMS, drain_started, make_queue, redis_client, wake_drain,
                             wake_drain_at)
from sms import answers, sending
from sms.gateways import FAILED, SENT, Delivery, gateway_from_settings
from workers import runtime

log = logging.getLogger(__name__)


DRAIN_SECONDS = 5.0       # a drain claims no more batches after this long, and wakes another: money jobs go first


def drain_outbox() -> str:
    """Send every row due now, a claimed batch at a time (enqueued by `jobs.wake_drain`)."""
    return runtime.run(lambda db: _drain(db))


def send_outbox(outbox_id: int) -> str:
    """Send this row now if it is still queued (a re-dispatch), with whatever else is due."""
    return runtime.run(lambda db: _drain(db, first=outbox_id))


async def _drain(db, first: int | None = None) -> str:
    settings = runtime.settings()
    queue = _queue(settings)
    drain_started(queue)                    # before the first claim: a row committed later wakes another
    lease = timedelta(seconds=settings.sms_lease_seconds)
    began = time.monotonic()
    totals = Totals()
    # Everything the sending needs is built before the first claim: a lease is time to send, and a cold
    # work horse's start-up (the SDK, the journal's client, the threads) counted into it handed whole
    # batches back untried, claim after claim (tests/test_issue18_review.py).
    gateway, journal, pool = _gateway(settings), _journal(settings), _pool()
    while True:
        lease_from = time.monotonic()          # no later than the claim's own clock: its lease ends after this
        async with db() as s, s.begin():
            rows = await outbox.claim_due(s, lease, first=first)
        first = None
        if not rows:
            break
        _fault("after-claim")
        faults.point("sms.send.after_claim")
        # No request starts after half the lease: each is bounded by the SDK's timeouts, so the rows are
        # recorded (or untried and handed back) before the sweeper may give them to another worker.
        sent = sending.send_batch(gateway, outbox.requests_for(rows), journal.write,
                                  lease_from + lease.total_seconds() / 2, pool)
        totals.add(await _record(db, rows, sent.answers, sent.gateway, untried=sent.untried))
        _forget(settings, list(sent.answers))                  # the rows say it now
        if totals.retry_at:
            wake_drain_at(queue, min(totals.retry_at))
            totals.retry_at.clear()
        if time.monotonic() - began > DRAIN_SECONDS or not sent.answers:
            # the rest after whatever waits (money first); a batch that could start nothing (its lease
            # half gone before a sender was free) is not claimed again at once
            wake_drain(queue)
            break
    return totals.summary()


@dataclass
class Totals:
    settled: int = 0
    later: int = 0
    untried: int = 0
    retry_at: list[datetime] = field(default_factory=list)

    def add(self, other: "Totals") -> None:
        self.settled += other.settled
        self.later += other.later
        self.untried += other.untried
        self.retry_at += other.retry_at

    def summary(self) -> str:
        if not (self.settled or self.later or self.untried):
            return "nothing to send (already claimed or sent)"
        return f"{self.settled} settled, {self.later} to retry, {self.untried} handed back untried"


def _queue(settings):
    return runtime.cached("sms-queue", lambda: make_queue(settings.redis_url, settings.queue_name, SMS))


def _gateway(settings):
    return runtime.cached("sms-gateway", lambda: gateway_from_settings(settings))    # its kept-alive sessions


def _pool() -> ThreadPoolExecutor:
    return runtime.cached("sms-senders", lambda: ThreadPoolExecutor(sending.SENDERS, thread_name_prefix="sms"))


def _redis(settings):
    return runtime.cached("redis", lambda: redis_client(settings.redis_url))     # one pool per process


def _journal(settings) -> answers.GroupJournal:
    return runtime.cached("sms-journal", lambda: answers.GroupJournal(_redis(settings), settings.redis_prefix))


def _forget(settings, outbox_ids: list[int]) -> None:
    try:
        answers.forget(_redis(settings), settings.redis_prefix, outbox_ids)
    except redis.RedisError:
        pass                      # they expire on their own (answers.KEEP_SECONDS)


_TABLE = SmsOutbox.__table__
_STILL_OURS = (_TABLE.c.id == bindparam("row_id")) & (_TABLE.c.status == "sending")
_SENT = update(_TABLE).where(_STILL_OURS).values(
    status="sent", gateway=bindparam("gw"), status_code=bindparam("code"), gateway_message_id=bindparam("mid"),
    cost=bindparam("cost"), sent_at=bindparam("at"), failure_reason=None, lease_until=None)
_FAILED = update(_TABLE).where(_STILL_OURS).values(
    status="failed", gateway=bindparam("gw"), status_code=bindparam("code"), failure_reason=bindparam("reason"),
    last_error=bindparam("error"), lease_until=None)
_RETRY = update(_TABLE).where(_STILL_OURS).values(
    status="queued", gateway=bindparam("gw"), status_code=bindparam("code"), last_error=bindparam("error"),
    lease_until=bindparam("not_before"))
_UNTRIED = update(_TABLE).where(_STILL_OURS).values(status="queued", attempts=_TABLE.c.attempts - 1,
                                                    lease_until=None)


async def _record(db, rows: list[SmsOutbox], deliveries: dict[int, Delivery], gateway: str,
                  untried: list[int] = ()) -> Totals:
    """Write each row's outcome (`deliveries` by outbox id) in one short transaction, a statement per kind
    of outcome. A row to retry goes back to the queue with its wait (outbox.retry_wait); a row no request was
    started for goes back as it was. Only rows still `sending` change (the sweeper may have taken one)."""
    t = outbox.now()
    sent, failed, retry, totals = [], [], [], Totals(untried=len(untried))
    for row in rows:
        d = deliveries.get(row.id)
        if d is None:
            continue
        common = {"row_id": row.id, "gw": gateway, "code": d.status_code}
        if d.outcome == SENT:
            sent.append(common | {"mid": d.message_id, "cost": d.cost, "at": t})
        elif d.outcome == FAILED or row.attempts >= MAX_ATTEMPTS:
            failed.append(common | {"reason": (d.reason or "Unknown")[:64], "error": d.reason})
        else:
            not_before = t + outbox.retry_wait(row.attempts)
            retry.append(common | {"error": d.reason, "not_before": not_before})
            totals.retry_at.append(not_before)
    totals.settled, totals.later = len(sent) + len(failed), len(retry)
    async with db() as s, s.begin():
        for statement, params in ((_SENT, sent), (_FAILED, failed), (_RETRY, retry),
                                  (_UNTRIED, [{"row_id": i} for i in untried])):
            if params:
                await s.execute(statement, params)
    return totals


def sweep_outbox() -> str:
    return runtime.run(_sweep)


async def _sweep(db) -> str:
    settings = runtime.settings()
    recorded = await _recover_answers(db, settings)
    older_than = timedelta(seconds=settings.sms_sweep_seconds)
    async with unit_of_work(db) as s:          # enqueues them again after the commit
        items = await outbox.stale(s, older_than)
    if items:
        log.warning("outbox sweep dispatched %d message(s) again", len(items))
    async with db() as s:
        broadcast = await outbox.bulk_waiting(s, older_than)
    if broadcast:
        wake_drain(_queue(settings))
    return (f"{len(items)} dispatched again, {recorded} recorded from the gateway's answers"
            + ("; a drain woken for a broadcast" if broadcast else ""))


async def _recover_answers(db, settings) -> int:
    """Rows whose worker died after the gateway answered: record the journaled answer, send nothing again."""
    async with db() as s:
        abandoned = list((await s.scalars(select(SmsOutbox).where(SmsOutbox.status == "sending",
                                                                  SmsOutbox.lease_until < outbox.now()))).all())
    if not abandoned:
        return 0
    found = answers.read(_redis(settings), settings.redis_prefix, [r.id for r in abandoned])
    by_gateway: dict[str, dict[int, Delivery]] = {}
    for outbox_id, (gateway, delivery) in found.items():
        by_gateway.setdefault(gateway, {})[outbox_id] = delivery
    for gateway, deliveries in by_gateway.items():
        totals = await _record(db, [r for r in abandoned if r.id in deliveries], deliveries, gateway)
        if totals.retry_at:                   # a number the gateway asked us to try again: after its wait
            wake_drain_at(_queue(settings), min(totals.retry_at))
    _forget(settings, list(found))
    if found:
        log.warning("outbox sweep recorded %d message(s) a dead worker had sent", len(found))
    return len(found)


def _fault(point: str) -> None:
    """Crash on purpose at a named point (ENERLECTRA_FAULT): how tests kill a worker mid-send."""
    if os.environ.get("ENERLECTRA_FAULT") == point:
        if runtime.forking:                           # rq puts a work horse in a process group of its own
            os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
        os.killpg(os.getpgrp(), signal.SIGKILL)       # worker, horse and rq's scheduler: a dead machine
