"""The SMS outbox: follow-ups are rows written in the caller's transaction, sent later by a worker.

A row commits with the change it reports (or not at all), so a message is never lost; the worker
claims rows before sending, so a message is never sent twice by two workers.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.clock import now
from enerlectra.db.models import SmsOutbox, User
from enerlectra.domain.work import followups
from enerlectra.text.gsm7 import segment

BATCH = 100                  # recipients per gateway request when the text is the same


async def add(db: AsyncSession, msisdn: str, body: str, kind: str, *, essential: bool = False,
              dedupe_key: str | None = None) -> SmsOutbox | None:
    """Queue one SMS inside the caller's transaction. Returns None when `dedupe_key` was used before.

    The row is recorded on the session as a follow-up: its unit of work enqueues the send after the commit.
    A non-essential message to a user who sent STOP is recorded as suppressed and never sent.
    """
    if dedupe_key is not None:
        seen = await db.scalar(select(SmsOutbox.id).where(SmsOutbox.dedupe_key == dedupe_key))
        if seen is not None:
            return None
    opted_out = await db.scalar(select(User.sms_opt_out).where(User.msisdn == msisdn))
    seg = segment(body)
    row = SmsOutbox(msisdn=msisdn, body=body, kind=kind, essential=essential,
                    status="suppressed" if (opted_out and not essential) else "queued",
                    encoding=seg.encoding, segments=seg.count, dedupe_key=dedupe_key, attempts=0, dispatches=1)
    db.add(row)
    await db.flush()
    followups(db).sms(row)
    return row


def to_dispatch(rows: list[SmsOutbox | None]) -> list[tuple[int, int]]:
    """(id, dispatch number) of the rows a worker should send (what `outbox.add` records on the session)."""
    return [(r.id, r.dispatches) for r in rows if r is not None and r.status == "queued"]


async def claim(db: AsyncSession, outbox_id: int, lease: timedelta) -> list[SmsOutbox]:
    """Take this row, and up to BATCH-1 others queued with the same text, for sending now.

    The conditional UPDATE is the claim: a row another worker took is no longer 'queued'.
    """
    primary = (await db.execute(select(SmsOutbox.body, SmsOutbox.msisdn)
                                .where(SmsOutbox.id == outbox_id, SmsOutbox.status == "queued"))).first()
    if primary is None:
        return []
    body, first = primary
    ids, numbers = [outbox_id], {first}
    for other_id, msisdn in (await db.execute(
            select(SmsOutbox.id, SmsOutbox.msisdn).where(SmsOutbox.status == "queued", SmsOutbox.body == body,
                                                         SmsOutbox.id != outbox_id)
            .order_by(SmsOutbox.id).limit(BATCH * 2))).all():
        if msisdn not in numbers and len(ids) < BATCH:     # one number once per request
            ids.append(other_id)
            numbers.add(msisdn)
    claimed = (await db.scalars(
        update(SmsOutbox).where(SmsOutbox.id.in_(ids), SmsOutbox.status == "queued")
        .values(status="sending", attempts=SmsOutbox.attempts + 1, lease_until=now() + lease)
        .returning(SmsOutbox), execution_options={"synchronize_session": False})).all()
    return sorted(claimed, key=lambda r: r.id)


async def stale(db: AsyncSession, older_than: timedelta) -> list[tuple[int, int]]:
    """Rows left behind (enqueue lost, worker killed): put back to queued with a new dispatch number, and
    recorded on the session like new rows (its unit of work enqueues them again after the commit)."""
    cutoff = now() - older_than
    rows = (await db.execute(
        update(SmsOutbox)
        .where(or_(
            (SmsOutbox.status == "queued") & (SmsOutbox.updated_at < cutoff),
            (SmsOutbox.status == "sending") & (SmsOutbox.lease_until < now()),
        ))
        .values(status="queued", dispatches=SmsOutbox.dispatches + 1, updated_at=func.now())
        .returning(SmsOutbox.id, SmsOutbox.dispatches))).all()
    items = [(r[0], r[1]) for r in rows]
    followups(db).sends.extend(items)
    return items
