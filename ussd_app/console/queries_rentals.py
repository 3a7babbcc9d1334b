"""The Rentals page's SQL: rentals newest first, filtered by state and station, one page by keyset (or one user's,
on their profile). The cost is billing's: the settled bill of an ended rental, the bill if it went back now for an open
one (the tariff the renter saw, as the USSD screen computes it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from enerlectra.db.models import Bank, Rental, Station, User
from enerlectra.domain.money import format_money
from enerlectra.domain.rentals import billing, views
from enerlectra.redact import mask_msisdn
from ussd_app.console.paging import Keyset, stamp

STATES = ("ejecting", "active", "returned", "cancelled", "lost", "found")      # found: a lost bank came back
COLUMNS = ["ref", "user", "number", "station", "bank", "state", "started", "due", "cost", "owed", "returned to"]


@dataclass(frozen=True)
class Filters:
    state: str = ""
    station: str = ""                  # a station's code
    user_id: int | None = None         # one user's (their profile)

    def where(self) -> list:
        # The station by its id, found first: PostgreSQL then reads (station_id, id) newest first, where a join
        # on the code sorted all of a busy station's rentals (20,000: 0.36 s in bench.console_stations).
        wanted = [(Rental.state, self.state), (Rental.user_id, self.user_id)]
        found = [column == value for column, value in wanted if value]
        if self.station:
            found.append(Rental.station_id == select(Station.id).where(Station.code == self.station)
                         .scalar_subquery())
        return found


def cost(rental: Rental, now: datetime) -> str:
    """Billed (an ended rental's bill), so far (an open one's, if it went back now), or nothing (not started)."""
    if rental.bill is not None:
        return f"{format_money(rental.bill['total'], rental.currency)} billed"
    if rental.started_at is None:
        return ""
    so_far = billing.so_far(views.tariff_of(rental), views.billed(rental), now)
    return f"{format_money(so_far.total, rental.currency)} so far"


async def listed(s: AsyncSession, filters: Filters, page: Keyset, now: datetime) -> tuple[list[tuple], list[int]]:
    """The page's rows as the table shows them, and their ids (newest first) for the pager. Read through
    (state, id), (station_id, id) or (user_id, id) by id (0021)."""
    back = aliased(Station)
    rows = await s.execute(page.apply(select(Rental, User.msisdn, Station.code, Bank.serial, back.code)
                                      .join(User, User.id == Rental.user_id)
                                      .join(Station, Station.id == Rental.station_id)
                                      .outerjoin(Bank, Bank.id == Rental.bank_id)
                                      .outerjoin(back, back.id == Rental.return_station_id)
                                      .where(*filters.where()), Rental.id))
    found = page.rows(rows.all())
    return ([(r.ref, r.user_id, mask_msisdn(msisdn), code, serial or "", r.state, stamp(r.started_at),
              stamp(r.due_at), cost(r, now), format_money(r.owed, r.currency) if r.owed else "", returned or "")
             for r, msisdn, code, serial, returned in found], [r.id for r, *_ in found])
