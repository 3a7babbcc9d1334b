"""The station log: one line per fault, alert, incident or change of state an operator should see."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import StationLog

KINDS = ("fault", "fault_cleared", "alert", "incident", "online", "offline", "boot", "note")


def note(s: AsyncSession, kind: str, detail: str, now: datetime, *, station_id: int | None = None,
         bank_id: int | None = None, slot_n: int | None = None, author: str = "station") -> StationLog:
    assert kind in KINDS, kind
    row = StationLog(station_id=station_id, bank_id=bank_id, slot_n=slot_n, kind=kind, detail=detail[:300],
                     author=author[:120], created_at=now)
    s.add(row)
    return row
