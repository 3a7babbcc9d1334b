"""RentalHooks: the rental layer's answer to what the station side learns (stations/hooks.StationHooks), inside
the transaction that learned it, so a rental and its eject request never disagree after a crash."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import clock
from enerlectra.db.models import Bank, EjectRequest, Station
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.rentals import ending, service
from enerlectra.settings import Settings


class RentalHooks:
    """create_app sets one as app[appkeys.STATION_HOOKS]; serve's link process gets one too."""

    def __init__(self, settings: Settings):
        self.settings = settings
        service.configure(settings)

    async def ejected(self, s: AsyncSession, req: EjectRequest) -> None:
        await ending.started(s, req.req_id, aware_utc(req.settled_at) or clock.now())

    async def eject_failed(self, s: AsyncSession, req: EjectRequest) -> None:
        await ending.cancelled(s, req.req_id, aware_utc(req.settled_at) or clock.now())

    async def returned(self, s: AsyncSession, bank: Bank, station: Station, slot: int, soc: int | None,
                       said_at: datetime) -> None:
        await ending.returned(s, bank, station, said_at, clock.now())
