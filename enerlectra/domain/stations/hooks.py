"""What the station side tells the layer above it (rentals), inside the transaction that learned it.

The rental layer passes an object with these three coroutines; this package never imports it. Each call
happens once per fact (events are deduplicated by evt_id, requests settle once), in the same transaction as
the station-side change, so a rental and its eject request can never disagree after a crash.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, EjectRequest, Station


class StationHooks(Protocol):
    async def ejected(self, s: AsyncSession, req: EjectRequest) -> None:
        """The bank left its slot for this request (the station said ok, or the inventory showed it gone)."""

    async def eject_failed(self, s: AsyncSession, req: EjectRequest) -> None:
        """Nothing was ejected (req.state failed or expired, req.reason why): the renter owes nothing."""

    async def returned(self, s: AsyncSession, bank: Bank, station: Station, slot: int, soc: int | None,
                       said_at: datetime) -> None:
        """A bank that was out went into a slot (any station). Called for every return, also of a bank
        with no eject behind it (that one is also logged as an alert for an operator). `said_at`: when the
        station says it went in (its clock: the return event's ts, or the heartbeat's that showed it), which
        may be long before we heard it (the link was down) and is not checked against our clock."""


class NoHooks:
    """Nobody above listens (the CLI, station-only tests)."""

    async def ejected(self, s, req) -> None:
        return None

    async def eject_failed(self, s, req) -> None:
        return None

    async def returned(self, s, bank, station, slot, soc, said_at) -> None:
        return None


NO_HOOKS = NoHooks()
