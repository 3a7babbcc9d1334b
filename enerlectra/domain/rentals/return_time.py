"""When a returned bank is billed as back: the station's time of the return, not ours, within [the rental's
start, when we heard it]. A link that was down hears a return late (the broker queued it, or the next
heartbeat shows it) and must not bill the renter for our outage; a station clock that runs fast or slow must
never bill after we heard it nor before the rental began. That clamp is a clock-skew alert in the station log,
once per return (its caller runs once per return), beyond the rounding of a whole-second ts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, Rental, Station
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.stations import journal

CLOCK_SKEW_NOTED_SECONDS = 2    # a station's ts is whole seconds, ours is not: a clamp within this is rounding


def billed_at(s: AsyncSession, rental: Rental, bank: Bank, station: Station, said_at: datetime,
              now: datetime) -> datetime:
    """`said_at` (the station's time) within [rental.started_at, `now`]; an alert when it was outside."""
    started = aware_utc(rental.started_at)
    at = min(max(said_at, started), now)
    skew = (said_at - at).total_seconds()
    if abs(skew) > CLOCK_SKEW_NOTED_SECONDS:
        when = "after we heard it: billed to then" if skew > 0 else "before its rental began: billed from then"
        journal.note(s, "alert", f"clock skew: the return of {bank.serial} is stamped {abs(int(skew))} s {when}",
                     now, station_id=station.id, bank_id=bank.id, slot_n=bank.slot_n)
    return at
