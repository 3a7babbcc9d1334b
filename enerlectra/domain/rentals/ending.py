"""What happens to a rental when the station side learns something (hooks.py calls these inside the link's
transaction) or when it is declared lost: state, money (holds.py) and the renter's SMS, in one transaction.

Each runs under the rental's row lock and checks the state first, so a fact told twice changes nothing;
the ledger keys (rental:{id}:...) make the money idempotent even if a check were missed.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import faults
from enerlectra.db.models import Bank, EjectRequest, Rental, Station, User
from enerlectra.domain import outbox
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.rentals import billing, found, holds, return_time, texts
from enerlectra.domain.rentals.views import billed, number, tariff_of
from enerlectra.i18n import in_language_of

log = logging.getLogger("enerlectra.rentals")


async def _locked(s: AsyncSession, query) -> Rental | None:
    return (await s.execute(query.with_for_update())).scalar_one_or_none()


async def locked_for_end(s: AsyncSession, query) -> Rental | None:
    """The rental `query` finds, locked in the order a return locks it: its bank's row first, then the rental's.
    A return (a station's event or heartbeat) holds the bank when it asks for the rental; a loss that locked
    the rental first and then marked the bank lost deadlocked with it on PostgreSQL (one of them aborted)."""
    found = (await s.execute(query)).scalar_one_or_none()
    if found is None:
        return None
    if found.bank_id is not None:
        await s.execute(select(Bank.id).where(Bank.id == found.bank_id).with_for_update())
    return (await s.execute(query.with_for_update().execution_options(populate_existing=True))).scalar_one_or_none()


async def _tell(s: AsyncSession, rental: Rental, kind: str, render, *args) -> None:
    user = await s.get(User, rental.user_id)
    body = in_language_of(user, render, *args)
    await outbox.add(s, user.msisdn, body, "rental", essential=True, dedupe_key=f"rental:{rental.id}:{kind}")


async def started(s: AsyncSession, req_id: str, at: datetime) -> Rental | None:
    """The bank came out: the rental runs from `at` and is due by the terms' hours; "take it from slot N"."""
    rental = await _locked(s, select(Rental).where(Rental.req_id == req_id))
    if rental is None or rental.state != "ejecting":
        return None
    tariff = tariff_of(rental)
    req = await s.scalar(select(EjectRequest).where(EjectRequest.req_id == req_id))
    rental.bank_id, rental.slot_n = req.bank_id, req.slot_n    # the bank that came out (ejects._came_out)
    start = billing.start(tariff, at)
    rental.state, rental.started_at = "active", aware_utc(at)
    rental.due_at = rental.started_at + timedelta(seconds=start.due_at - start.started_at)
    station = await s.get(Station, rental.station_id)
    await _tell(s, rental, "ejected", texts.ejected_text, number(rental.ref), rental.slot_n, station.name,
                start.due_at)
    return rental


async def cancelled(s: AsyncSession, req_id: str, at: datetime) -> Rental | None:
    """Nothing came out: the whole deposit back, once, and an SMS that says so."""
    rental = await _locked(s, select(Rental).where(Rental.req_id == req_id))
    if rental is None or rental.state != "ejecting":
        return None
    posted = await holds.release(s, rental)
    rental.state, rental.ended_at, rental.settle_entry_id = "cancelled", at, posted.entry_id
    await _tell(s, rental, "eject_failed", texts.eject_failed_text, number(rental.ref), rental.deposit,
                rental.currency)
    return rental


async def returned(s: AsyncSession, bank: Bank, station: Station, said_at: datetime,
                   now: datetime) -> Rental | None:
    """The bank is back (at any station): billed by the terms shown up to when the station says it went in
    (`said_at`, bounded: return_time.billed_at), settled, the receipt SMS with that time. With no active
    rental behind it, found.came_back decides (a lost bank back)."""
    rental = await _locked(s, select(Rental).where(Rental.bank_id == bank.id, Rental.state == "active"))
    if rental is None:                   # none out: a bank declared lost may be back (found.py)
        return await found.came_back(s, bank, station, said_at, now)
    at = return_time.billed_at(s, rental, bank, station, said_at, now)
    bill = billing.bill(tariff_of(rental), billed(rental), billing.Returned(at, station.code))
    await _settle(s, rental, bill, "returned", at, station.id)
    await _tell(s, rental, "receipt", texts.receipt_text, bill, station.name, at, number(rental.ref))
    return rental


async def declare_lost(s: AsyncSession, rental: Rental, at: datetime) -> None:
    """Reported or overdue past lost_after_days: billing's lost bill, charged once; the bank is written off."""
    bill = billing.bill(tariff_of(rental), billed(rental), billing.Lost(at))
    await _settle(s, rental, bill, "lost", at, None)
    bank = await s.get(Bank, rental.bank_id)
    if bank is not None and bank.state == "rented":
        bank.state = "lost"
    await _tell(s, rental, "lost", texts.lost_text, bill, number(rental.ref))


async def _settle(s: AsyncSession, rental: Rental, bill: billing.Bill, state: str, at: datetime,
                  station_id: int | None) -> None:
    posted, owed = await holds.settle(s, rental, bill)
    faults.point("rentals.settle.after_post")
    rental.state, rental.ended_at, rental.return_station_id = state, at, station_id
    rental.bill, rental.owed, rental.settle_entry_id = asdict(bill), owed, posted.entry_id
    if owed:
        log.info("rental %s: %d %s owed beyond the wallet", rental.ref, owed, rental.currency)
