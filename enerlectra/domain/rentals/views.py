"""What screens and SMS show of a rental (RentalView), and the rental row read back as billing's terms."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, EjectRequest, Rental, Station
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.rentals import billing
from enerlectra.domain.rentals.tariff import Tariff

OPEN = ("ejecting", "active")


@dataclass(frozen=True)
class RentalView:
    """What every screen and SMS shows of one rental."""
    ref: str                     # "R-" + digits, printed on receipts
    state: str                   # ejecting | active | returned | cancelled | lost | found
    station_code: str
    station_name: str
    slot: int | None             # the slot the bank comes out of
    bank_serial: str | None
    currency: str
    deposit: int                 # held
    started_at: datetime | None
    due_at: datetime | None
    minutes_used: int
    cost_so_far: int             # billing's figure if it were returned now (minor units)
    eject_state: str             # the eject request's: pending | ok | failed | expired | unknown
    owed: int = 0                # billed and not paid by the wallet (added to the contract)


def terms_of(tariff: Tariff) -> dict:
    return asdict(tariff)


def tariff_of(rental: Rental) -> Tariff:
    """The tariff the renter saw (stored at rent time), whatever RENTAL_* say now."""
    return Tariff(**rental.terms)


def billed(rental: Rental) -> billing.Rental:
    return billing.Rental(aware_utc(rental.started_at), aware_utc(rental.due_at), rental.prepaid)


def number(ref: str) -> int:
    """The digits of "R-1234567": what texts.py prints after "R"."""
    return int(ref[2:])


async def view(s: AsyncSession, rental: Rental, now: datetime) -> RentalView:
    station = await s.get(Station, rental.station_id)
    serial = await s.scalar(select(Bank.serial).where(Bank.id == rental.bank_id)) if rental.bank_id else None
    eject = await s.scalar(select(EjectRequest.state).where(EjectRequest.req_id == rental.req_id)) \
        if rental.req_id else None
    minutes = cost = 0
    if rental.started_at is not None:
        if rental.bill is not None:
            minutes, cost = rental.bill["minutes"], rental.bill["total"]
        else:
            so_far = billing.so_far(tariff_of(rental), billed(rental), now)
            minutes, cost = so_far.minutes, so_far.total
    return RentalView(ref=rental.ref, state=rental.state, station_code=station.code, station_name=station.name,
                      slot=rental.slot_n, bank_serial=serial, currency=rental.currency, deposit=rental.deposit,
                      started_at=aware_utc(rental.started_at), due_at=aware_utc(rental.due_at),
                      minutes_used=minutes, cost_so_far=cost, eject_state=eject or "pending", owed=rental.owed)
