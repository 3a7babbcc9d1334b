"""SMS jobs: send an outbox row (batched with others of the same text), and sweep rows left behind."""
from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta

import redis
from sqlalchemy import select, update

from enerlectra import faults
from enerlectra.db.models import SmsOutbox
from enerlectra.domain import outbox
from enerlectra.domain.work import unit_of_work
from enerlectra.jobs import MAX_ATTEMPTS, redis_client
from sms import answers
from sms.gateways import FAILED, RETRY, SENT, Delivery, GatewayError, gateway_from_settings
from workers import runtime

log = logging.getLogger(__name__)


class SendLater(Exception):
    """Some messages could not be sent now; rq's Retry runs the job again later."""


def send_outbox(outbox_id: int) -> str:
    return runtime.run(lambda db: _send(db, outbox_id))


async def _send(db, outbox_id: int) -> str:
    settings = runtime.settings()
    async with db() as s, s.begin():
        rows = await outbox.claim(s, outbox_id, timedelta(seconds=settings.sms_lease_seconds))
    if not rows:
        return "nothing to send (already claimed or sent)"
    _fault("after-claim")
    faults.point("sms.send.after_claim")
    gateway = gateway_from_settings(settings)
    try:
        deliveries = gateway.send(rows[0].body, [r.msisdn for r in rows])   # a job owns its thread: block
    except GatewayError as exc:
        deliveries = [Delivery(r.msisdn, RETRY, reason=str(exc)) for r in rows]
    else:                         # accepted: write each message's answer down before anything else
        _journal(settings, rows, deliveries, gateway.name)
    faults.point("sms.send.after_gateway")
    later = await _record(db, rows, deliveries, gateway.name)
    _forget(settings, [r.id for r in rows])                   # the rows say it now
    summary = f"{len(rows) - later}/{len(rows)} settled via {gateway.name}"
    if later:
        raise SendLater(f"{later} message(s) to retry; {summary}")
    return summary


def _redis(settings):
    return runtime.cached("redis", lambda: redis_client(settings.redis_url))     # one pool per process


def _journal(settings, rows: list[SmsOutbox], deliveries: list[Delivery], gateway: str) -> None:
    by_number = {d.msisdn: d for d in deliveries}
    answers.write(_redis(settings), settings.redis_prefix, gateway,
                  {r.id: by_number[r.msisdn] for r in rows if r.msisdn in by_number})


def _forget(settings, outbox_ids: list[int]) -> None:
    try:
        answers.forget(_redis(settings), settings.redis_prefix, outbox_ids)
    except redis.RedisError:
        pass                      # they expire on their own (answers.KEEP_SECONDS)


async def _record(db, rows: list[SmsOutbox], deliveries: list[Delivery] | dict[int, Delivery], gateway: str) -> int:
    """Write each outcome (`deliveries` by number, or by outbox id); returns how many rows went back to
    the queue for a retry. Only rows still `sending` change."""
    by_id = deliveries if isinstance(deliveries, dict) else None
    by_number = {d.msisdn: d for d in deliveries} if by_id is None else {}
    later = 0
    async with db() as s, s.begin():
        for row in rows:
            d = by_id[row.id] if by_id is not None else by_number[row.msisdn]
            values: dict = {"gateway": gateway, "status_code": d.status_code, "lease_until": None}
            if d.outcome == SENT:
                values |= {"status": "sent", "gateway_message_id": d.message_id, "cost": d.cost,
                           "sent_at": outbox.now(), "failure_reason": None}
            elif d.outcome == FAILED or row.attempts >= MAX_ATTEMPTS:
                values |= {"status": "failed", "failure_reason": (d.reason or "Unknown")[:64],
                           "last_error": d.reason}
            else:
                values |= {"status": "queued", "last_error": d.reason}
                later += 1
            await s.execute(update(SmsOutbox).where(SmsOutbox.id == row.id, SmsOutbox.status == "sending")
                            .values(**values))
    return later


def sweep_outbox() -> str:
    return runtime.run(_sweep)


async def _sweep(db) -> str:
    settings = runtime.settings()
    recorded = await _recover_answers(db, settings)
    async with unit_of_work(db) as s:          # enqueues them again after the commit
        items = await outbox.stale(s, timedelta(seconds=settings.sms_sweep_seconds))
    if items:
        log.warning("outbox sweep dispatched %d message(s) again", len(items))
    return f"{len(items)} dispatched again, {recorded} recorded from the gateway's answers"


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
        await _record(db, [r for r in abandoned if r.id in deliveries], deliveries, gateway)
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
