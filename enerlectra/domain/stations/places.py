"""Where banks are: a bank arrives in a slot or leaves it, whoever told us (a heartbeat or an event).

Arriving from outside (the bank had no place) is a return, whatever message showed it first: the rental
layer hears `returned` once, and a later message that shows the same bank in the same slot changes nothing.
A bank leaving its slot with no eject behind it is `missing` and an operator is alerted.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, Station
from enerlectra.domain.stations import journal
from enerlectra.domain.stations.hooks import StationHooks


class UnknownStation(LookupError):
    """No station has this code (register it: `enerlectra stations add`)."""


async def station(s: AsyncSession, code: str, lock: bool = True) -> Station:
    """The station by code, its row locked (PostgreSQL): everything that moves its banks takes this lock first,
    so an eject, a heartbeat and a return at one station never interleave."""
    query = select(Station).where(Station.code == code)
    try:
        return (await s.execute(query.with_for_update() if lock else query)).scalar_one()
    except NoResultFound:
        raise UnknownStation(code) from None


async def bank_by_serial(s: AsyncSession, serial: str, st: Station, now: datetime) -> tuple[Bank, bool]:
    """(the bank with this serial, whether it is new): a serial never seen is added, out of any slot, and noted
    (stocking a new cabinet is the usual reason: a note, not an alert)."""
    bank = (await s.execute(select(Bank).where(Bank.serial == serial).with_for_update())).scalar_one_or_none()
    if bank is None:
        bank = Bank(serial=serial, state="available", updated_at=now)
        s.add(bank)
        await s.flush()
        journal.note(s, "note", f"new bank {serial} seen at {st.code}: added", now, station_id=st.id,
                     bank_id=bank.id)
        return bank, True
    return bank, False


def leave(s: AsyncSession, st: Station, bank: Bank, now: datetime, moving: bool = False) -> None:
    """The bank is no longer in its slot. Reserved: its request decides what that means; available: missing
    (unless `moving`: the same inventory shows it in another slot)."""
    slot_n = bank.slot_n
    bank.station_id, bank.slot_n, bank.updated_at = None, None, now
    if bank.state == "available" and not moving:
        bank.state = "missing"
        journal.note(s, "alert", f"bank {bank.serial} left slot {slot_n} with no eject", now, station_id=st.id,
                     bank_id=bank.id, slot_n=slot_n)


async def arrive(s: AsyncSession, st: Station, bank: Bank, n: int, soc: int | None, now: datetime,
                 hooks: StationHooks, *, said_at: datetime, first_seen: bool = False, moving: bool = False) -> bool:
    """Put `bank` in slot `n` of `st` (whatever sat there leaves first). True when this was a return.
    `said_at`: the station's time on the message that showed it (a return is billed at that time, not `now`);
    `first_seen`: a bank a heartbeat shows for the first time is stock, not a return; `moving`: it left another
    slot of this station in the same heartbeat (it moved, it did not come back)."""
    if bank.station_id == st.id and bank.slot_n == n:
        bank.soc = soc if soc is not None else bank.soc
        return False
    occupant = (await s.execute(select(Bank).where(Bank.station_id == st.id, Bank.slot_n == n)
                                .with_for_update())).scalar_one_or_none()
    if occupant is not None:
        leave(s, st, occupant, now)
    was_out, came_from = bank.station_id is None, bank.station_id
    bank.station_id = bank.slot_n = None
    await s.flush()                      # the slot and the old place are free before the unique index sees it
    bank.station_id, bank.slot_n, bank.updated_at = st.id, n, now
    bank.soc = soc if soc is not None else bank.soc
    if first_seen or moving:
        return False
    if not was_out:
        journal.note(s, "alert", f"bank {bank.serial} moved to slot {n} from station id {came_from} unseen", now,
                     station_id=st.id, bank_id=bank.id, slot_n=n)
        return False
    if bank.state == "reserved":         # out for a request not settled yet and back already: the request decides
        return False
    if bank.state not in ("rented", "lost"):      # a lost one: the rental layer notes it (rentals/found.py)
        journal.note(s, "alert", f"bank {bank.serial} returned to slot {n} with no rental behind it ({bank.state})",
                     now, station_id=st.id, bank_id=bank.id, slot_n=n)
    bank.state = "available"
    await s.flush()
    await hooks.returned(s, bank, st, n, bank.soc, said_at)
    return True
