"""The Stations page's SQL: every station with what it can give and take (fleet.views) and its faulted slots
(GROUP BY), one station's slots with their banks, its open eject requests, and the alerts that stand now:
offline stations, banks out of their slots with no open rental, unknown ejects (each one query)."""
from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, EjectRequest, Rental, Slot, Station, StationLog
from enerlectra.domain.rentals.views import OPEN
from enerlectra.domain.stations import fleet
from ussd_app.console.paging import stamp

LIST_COLUMNS = ["code", "name", "area", "country", "state", "last heartbeat", "charged banks free", "free slots",
                "faults"]
ALERT_COLUMNS = ["since", "what", "station", "bank", "detail"]
OPEN_EJECTS = ("pending", "unknown")
LIMIT = 200

_faulted = or_(Slot.fault.is_not(None), Slot.state == "fault")


async def listed(s: AsyncSession, min_soc: int) -> list[tuple]:
    faults = dict((await s.execute(select(Station.code, func.count()).join(Slot, Slot.station_id == Station.id)
                                   .where(_faulted).group_by(Station.code))).all())
    return [(v.code, v.name, v.area, v.country, "online" if v.online else "offline", stamp(v.last_heartbeat_at),
             v.free_banks, v.free_slots, faults.get(v.code, 0)) for v in await fleet.views(s, min_soc)]


async def slots(s: AsyncSession, station_id: int) -> list[tuple]:
    """(slot, slot state, fault, bank serial, soc, health, bank state) by slot number."""
    rows = await s.execute(select(Slot.n, Slot.state, Slot.fault, Bank.serial, Bank.soc, Bank.health, Bank.state)
                           .outerjoin(Bank, and_(Bank.station_id == Slot.station_id, Bank.slot_n == Slot.n))
                           .where(Slot.station_id == station_id).order_by(Slot.n))
    return [tuple(row) for row in rows.all()]


async def open_ejects(s: AsyncSession, station_id: int) -> list[tuple]:
    rows = await s.execute(select(EjectRequest.issued_at, EjectRequest.req_id, EjectRequest.slot_n, Bank.serial,
                                  EjectRequest.rental_ref, EjectRequest.state, EjectRequest.expires_at)
                           .outerjoin(Bank, Bank.id == EjectRequest.bank_id)
                           .where(EjectRequest.station_id == station_id, EjectRequest.state.in_(OPEN_EJECTS))
                           .order_by(EjectRequest.issued_at).limit(LIMIT))
    return [(stamp(issued), req, n, serial, ref, state, stamp(expires))
            for issued, req, n, serial, ref, state, expires in rows.all()]


async def alerts_now(s: AsyncSession, station_id: int | None = None) -> list[tuple]:
    """What stands now, oldest first within each kind: offline stations, banks out of any slot that no open
    rental holds (missing, or rented/reserved with nothing behind it; a bank its renter lost was billed: no
    alert), unknown ejects."""
    found: list[tuple] = []
    offline = select(Station.online_changed_at, Station.code).where(Station.online.is_(False))
    if station_id is not None:
        offline = offline.where(Station.id == station_id)
    for since, code in (await s.execute(offline.order_by(Station.code).limit(LIMIT))).all():
        found.append((stamp(since), "station offline", code, "", "no heartbeat or its last will said offline"))
    rented = select(Rental.id).where(Rental.bank_id == Bank.id, Rental.state.in_(OPEN)).exists()
    pending = select(EjectRequest.id).where(EjectRequest.bank_id == Bank.id,
                                            EjectRequest.state.in_(OPEN_EJECTS)).exists()
    # A bank out of its slot has no station of its own: it is listed under the last station its log names.
    last_seen = (select(StationLog.station_id).where(StationLog.bank_id == Bank.id)
                 .order_by(StationLog.id.desc()).limit(1).scalar_subquery())
    banks = (select(Bank.updated_at, Bank.serial, Bank.state, Station.code)
             .outerjoin(Station, Station.id == last_seen)
             .where(Bank.station_id.is_(None), Bank.state != "lost", ~rented, ~pending))
    if station_id is not None:
        banks = banks.where(last_seen == station_id)
    for since, serial, state, code in (await s.execute(banks.order_by(Bank.updated_at).limit(LIMIT))).all():
        what = "bank missing" if state == "missing" else "bank out, no rental"
        found.append((stamp(since), what, code or "", serial, f"out of every slot, state {state}"))
    unknown = (select(EjectRequest.unknown_at, Station.code, Bank.serial, EjectRequest.req_id, EjectRequest.slot_n)
               .join(Station, Station.id == EjectRequest.station_id).outerjoin(Bank, Bank.id == EjectRequest.bank_id)
               .where(EjectRequest.state == "unknown"))
    if station_id is not None:
        unknown = unknown.where(EjectRequest.station_id == station_id)
    for since, code, serial, req, n in (await s.execute(unknown.order_by(EjectRequest.issued_at).limit(LIMIT))).all():
        found.append((stamp(since), "eject unknown", code, serial or "", f"request {req} (slot {n}): inventory asked; "
                      "no heartbeat decides it? `enerlectra stations eject-settle`"))
    return found


def log_rows(lines) -> list[tuple]:
    """fleet.log_of's lines as the table shows them."""
    return [(stamp(row.created_at), row.kind, row.slot_n, serial or "", row.detail, row.author)
            for row, serial in lines]


def logged_alerts(lines) -> list[tuple]:
    """fleet.alerts' lines (alerts, incidents, offline) as the table shows them."""
    return [(stamp(row.created_at), row.kind, code or "", serial or "", row.detail) for row, code, serial in lines]
