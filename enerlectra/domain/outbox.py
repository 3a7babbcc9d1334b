"""The SMS outbox: follow-ups are rows written in the caller's transaction, sent later by a worker.

A row commits with the change it reports (or not at all), so a message is never lost; the worker
claims rows before sending, so a message is never sent twice by two workers.

A queued row's `lease_until` is when it may be tried again (None: now); a sending row's, when its
worker's lease runs out and the sweeper may take it back.
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
CLAIM = 100                  # rows a worker claims at once (then sends as one request per text and number)
RETRY_SECONDS = (5, 30, 120, 600)   # the wait before try 2, 3, 4, 5 (jobs.MAX_ATTEMPTS)


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


async def claim_due(db: AsyncSession, lease: timedelta, limit: int = CLAIM, first: int | None = None
                    ) -> list[SmsOutbox]:
    """Take up to `limit` rows due now (queued, past any retry wait), oldest first and broadcasts last (bulk: a
    broadcast queued before an OTP never delays it), for sending: they
    become `sending` with one more attempt and a lease. `first` (a row a job was dispatched for) is taken
    when still queued, whatever its retry wait: a re-dispatch means now.

    The conditional UPDATE is the claim: a row another worker took is no longer 'queued'. On PostgreSQL
    the rows are picked FOR UPDATE SKIP LOCKED, so two workers claiming at once take different rows
    instead of queueing on each other's; SQLite's one writer (BEGIN IMMEDIATE) serialises claims.
    """
    t = now()
    due = (select(SmsOutbox.id)
           .where(SmsOutbox.status == "queued", or_(SmsOutbox.lease_until.is_(None), SmsOutbox.lease_until <= t))
           .order_by(SmsOutbox.bulk, SmsOutbox.id).limit(limit).with_for_update(skip_locked=True)
           .cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
    # A materialized CTE: PostgreSQL may run an `IN (SELECT .. LIMIT n)` subquery more than once in the
    # UPDATE's plan, and each run skips the rows the last one locked: it claimed 30 rows for a limit of 5.
    wanted = SmsOutbox.id.in_(select(due.c.id))
    if first is not None:
        wanted = or_(SmsOutbox.id == first, wanted)
    claimed = (await db.scalars(
        update(SmsOutbox).where(wanted, SmsOutbox.status == "queued")
        .values(status="sending", attempts=SmsOutbox.attempts + 1, lease_until=t + lease)
        .returning(SmsOutbox), execution_options={"synchronize_session": False})).all()
    return sorted(claimed, key=lambda r: (r.bulk, r.id))


def requests_for(rows: list[SmsOutbox]) -> list[list[SmsOutbox]]:
    """The gateway requests a claimed batch needs: rows of one text together, up to BATCH numbers a
    request, one number once per request (a number twice with the same text is two requests)."""
    open_: dict[str, list[list[SmsOutbox]]] = {}
    out: list[list[SmsOutbox]] = []
    for row in rows:
        for group in open_.setdefault(row.body, []):
            if len(group) < BATCH and all(r.msisdn != row.msisdn for r in group):
                group.append(row)
                break
        else:
            group = [row]
            open_[row.body].append(group)
            out.append(group)
    return out


def _due_since():
    return func.coalesce(SmsOutbox.lease_until, SmsOutbox.updated_at)


async def bulk_waiting(db: AsyncSession, older_than: timedelta) -> bool:
    """A broadcast's rows due for longer than `older_than`: the sweeper wakes one drain for all of them. They
    wait behind every other SMS by design, so a job each (what `stale` gives a left-behind row) would put
    100,000 jobs in the queue every sweep and send each ahead of the OTPs the ordering keeps first."""
    return await db.scalar(select(SmsOutbox.id).where(SmsOutbox.status == "queued", SmsOutbox.bulk.is_(True),
                                                      _due_since() < now() - older_than).limit(1)) is not None


def retry_wait(attempts: int) -> timedelta:
    """How long a row waits before its next try, after `attempts` tries that asked for a retry."""
    return timedelta(seconds=RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1])


async def stale(db: AsyncSession, older_than: timedelta) -> list[tuple[int, int]]:
    """Rows left behind (enqueue lost, worker killed): put back to queued with a new dispatch number, and
    recorded on the session like new rows (its unit of work enqueues them again after the commit).
    A queued row counts from when it became due (after its retry wait), not from when it was written."""
    cutoff = now() - older_than
    rows = (await db.execute(
        update(SmsOutbox)
        .where(or_(
            (SmsOutbox.status == "queued") & SmsOutbox.bulk.is_(False) & (_due_since() < cutoff),
            (SmsOutbox.status == "sending") & (SmsOutbox.lease_until < now()),
        ))
        .values(status="queued", dispatches=SmsOutbox.dispatches + 1, lease_until=None, updated_at=func.now())
        .returning(SmsOutbox.id, SmsOutbox.dispatches))).all()
    items = [(r[0], r[1]) for r in rows]
    followups(db).sends.extend(items)
    return items
