"""When a returned bank is billed as back: the station's time of the return, not ours, within [the rental's
start, when we heard it]. A link that was down hears a return late (the broker queued it, or the next
heartbeat shows it) and must not bill the renter for our outage; a station clock that runs fast or slow must
never bill after we heard it nor before the rental began. That clamp is a clock-skew alert in the station log,
once per return (its caller runs once per return), beyond the rounding of a whole-second ts.

Nor before the last heartbeat we heard from that station (our clock) before this return: that heartbeat did not
show the bank there (else it would have been the return), so it went in later. A cabinet whose clock lies far
into the past (tampered, or a dead RTC) cannot bill a rental down to nothing, only to its last heartbeat, a
minute before we heard the return when it is online; our own outage hears no heartbeats either, so a return
queued meanwhile is still billed at its station's time."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, Rental, Station
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.stations import journal

CLOCK_SKEW_NOTED_SECONDS = 2    # a station's ts is whole seconds, ours is not: a clamp within this is rounding


def billed_at(s: AsyncSession, rental: Rental, bank: Bank, station: Station, said_at: datetime,
              now: datetime) -> datetime:
    """`said_at` (the station's time) within [the rental's start or the station's last heartbeat, whichever is
    later, `now`]; an alert when it was outside. Called before a heartbeat that shows the return is recorded."""
    started = aware_utc(rental.started_at)
    heard = aware_utc(station.last_heartbeat_at)
    floor = max(started, heard) if heard is not None and heard <= now else started
    at = min(max(said_at, floor), now)
    skew = (said_at - at).total_seconds()
    if abs(skew) > CLOCK_SKEW_NOTED_SECONDS:
        when = ("after we heard it: billed to then" if skew > 0 else
                "before its rental began: billed from then" if floor == started else
                "before the station's last heartbeat without it: billed from then")
        journal.note(s, "alert", f"clock skew: the return of {bank.serial} is stamped {abs(int(skew))} s {when}",
                     now, station_id=station.id, bank_id=bank.id, slot_n=bank.slot_n)
    return at
