"""Reminders and the lost sweep (workers/rentals.py ticks them): each once per rental and kind.

billing.reminders says when: 'due soon', 'overdue' (every 24 hours), the final notice, then LOST (declare it
and bill it). Only the newest reminder already due is sent: a worker that was down for a day sends one
notice, not a backlog. A rental_notices row (UNIQUE rental, kind) is written in the transaction that sends,
with the reminder's time in its kind: an extension moves the due time, and its new reminders are new kinds.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.dialects import insert_for
from enerlectra.db.models import Rental, RentalNotice, User
from enerlectra.domain import outbox
from enerlectra.domain.rentals import billing, ending, texts
from enerlectra.domain.rentals.views import billed, number, tariff_of
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import in_language_of

BATCH = 500                  # rentals read per page
MAX_REMIND_MINUTES = 120     # tariff.py's bound on remind_minutes


async def _claim(s: AsyncSession, rental: Rental, kind: str, now: datetime) -> bool:
    """True when this transaction is the first to send `kind` for `rental`."""
    return await s.scalar(insert_for(s)(RentalNotice).values(rental_id=rental.id, kind=kind, created_at=now)
                          .on_conflict_do_nothing(index_elements=["rental_id", "kind"])
                          .returning(RentalNotice.id)) is not None


def _kind(reminder: billing.Reminder) -> str:
    return f"{reminder.kind}:{reminder.at}"


def _due(rental: Rental, now: datetime) -> billing.Reminder | None:
    due = [r for r in billing.reminders(tariff_of(rental), billed(rental)) if r.at <= billing.seconds(now)]
    return due[-1] if due else None


async def _remind(s: AsyncSession, rental: Rental, reminder: billing.Reminder, now: datetime) -> bool:
    if not await _claim(s, rental, _kind(reminder), now):
        return False
    if reminder.kind == billing.LOST:
        await ending.declare_lost(s, rental, now)
        return True
    tariff, user, ref = tariff_of(rental), await s.get(User, rental.user_id), number(rental.ref)
    if reminder.kind == billing.DUE_SOON:
        body = in_language_of(user, texts.due_soon_text, tariff, billed(rental), ref)
    elif reminder.kind == billing.OVERDUE:
        body = in_language_of(user, texts.overdue_text, tariff, billing.so_far(tariff, billed(rental), now), ref)
    else:
        body = in_language_of(user, texts.final_text, tariff, billed(rental), ref)
    await outbox.add(s, user.msisdn, body, "rental", essential=True,
                     dedupe_key=f"rental:{rental.id}:{reminder.kind}:{reminder.at}")
    return True


async def _wanted(db: async_sessionmaker, now: datetime, lost: bool) -> list[int]:
    """Active rentals with a notice of this job's kind due and not sent yet (_claim decides, under the lock),
    read in pages by id so that rentals long overdue never crowd the newer ones out."""
    soonest = now + timedelta(minutes=MAX_REMIND_MINUTES)          # no reminder comes before due - this
    wanted, after = [], 0
    async with db() as s:
        while True:
            page = (await s.scalars(select(Rental).where(Rental.state == "active", Rental.due_at <= soonest,
                                                         Rental.id > after).order_by(Rental.id).limit(BATCH))).all()
            sent = set((await s.execute(select(RentalNotice.rental_id, RentalNotice.kind).where(
                RentalNotice.rental_id.in_([r.id for r in page])))).all())
            for rental in page:
                reminder = _due(rental, now)
                if reminder is not None and (reminder.kind == billing.LOST) == lost and \
                        (rental.id, _kind(reminder)) not in sent:
                    wanted.append(rental.id)
            if len(page) < BATCH:
                return wanted
            after = page[-1].id


async def run(db: async_sessionmaker, now: datetime, lost: bool = False) -> int:
    """Send the reminders due now (`lost`: declare and bill the lost ones instead): how many went out. Found
    by a read, then one short transaction per rental, its row locked and its state checked again (a return
    may have just closed it)."""
    sent = 0
    for rental_id in await _wanted(db, now, lost):
        async with unit_of_work(db) as s:
            rental = await ending.locked_for_end(s, select(Rental).where(Rental.id == rental_id))
            reminder = _due(rental, now) if rental.state == "active" else None
            if reminder is not None and (reminder.kind == billing.LOST) == lost:
                sent += await _remind(s, rental, reminder, now)
    return sent
