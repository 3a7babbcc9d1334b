"""Stations as operators see them: add one (with its slots), list them, read and write a station's log."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, EjectRequest, Slot, Station, StationLog
from enerlectra.domain import audit
from enerlectra.domain.stations import ejects, journal, wire

COUNTRIES = ("ZM", "TZ")
ALERT_KINDS = ("alert", "incident", "offline")      # the lines `stations alerts` and the console list


class StationTaken(ValueError):
    """That code is registered already."""


@dataclass(frozen=True)
class StationView:
    code: str
    name: str
    area: str
    country: str
    online: bool
    slots: int
    free_banks: int                 # charged (soc >= the minimum), available, in a slot with no fault
    free_slots: int                 # no bank in it and no fault: a return fits
    last_heartbeat_at: datetime | None


async def add(s: AsyncSession, code: str, name: str, area: str, slots: int, country: str = "ZM") -> Station:
    """Raises StationTaken, or ValueError for a code, name, area, slot count or country the rules refuse."""
    code, name, area, country = code.strip(), " ".join(name.split()), " ".join(area.split()), country.upper()
    if not wire.CODE.fullmatch(code):
        raise ValueError("code: 4 to 6 digits, as printed on the cabinet")
    if not (1 <= len(name) <= 40 and 1 <= len(area) <= 40):
        raise ValueError("name and area: 1 to 40 characters each")
    if not 1 <= slots <= wire.MAX_SLOTS:
        raise ValueError(f"slots: 1 to {wire.MAX_SLOTS}")
    if country not in COUNTRIES:
        raise ValueError(f"country: one of {', '.join(COUNTRIES)}")
    st = Station(code=code, name=name, area=area, country=country, slots=slots, online=False)
    try:
        async with s.begin_nested():
            s.add(st)
            await s.flush()
    except IntegrityError:
        raise StationTaken(code) from None
    s.add_all([Slot(station_id=st.id, n=n, state="unknown") for n in range(1, slots + 1)])
    await s.flush()
    return st


async def views(s: AsyncSession, min_soc: int, area: str | None = None, code: str | None = None
                ) -> list[StationView]:
    """Every station (or those whose area contains `area`, or the one with `code`), by code, with what it can
    give and take now."""
    usable = and_(Slot.fault.is_(None), Slot.state != "fault")
    if not area and code is None:
        return await _every_view(s, min_soc, usable)
    banks = (select(func.count()).select_from(Bank).join(Slot, and_(Slot.station_id == Bank.station_id,
                                                                    Slot.n == Bank.slot_n))
             .where(Bank.station_id == Station.id, Bank.state == "available", Bank.soc >= min_soc, usable)
             .scalar_subquery())
    occupied = select(Bank.id).where(Bank.station_id == Slot.station_id, Bank.slot_n == Slot.n).exists()
    free = (select(func.count()).select_from(Slot).where(Slot.station_id == Station.id, usable, ~occupied)
            .scalar_subquery())
    query = select(Station, banks, free).order_by(Station.code)
    if area:
        query = query.where(Station.area.ilike(f"%{area.strip()}%"))
    if code is not None:
        query = query.where(Station.code == code)
    return [StationView(st.code, st.name, st.area, st.country, st.online, st.slots, b, f, st.last_heartbeat_at)
            for st, b, f in (await s.execute(query)).all()]


async def _every_view(s: AsyncSession, min_soc: int, usable) -> list[StationView]:
    """The whole fleet in one pass over every slot and the bank in it, counted per station: the counts per
    station above look each one's banks and slots up twice (2,000 stations: 130 ms on PostgreSQL against 40,
    bench.console_stations), but for one station (a USSD hop) they are the cheaper."""
    charged = and_(usable, Bank.state == "available", Bank.soc >= min_soc)
    counts = (select(Slot.station_id, func.sum(case((charged, 1), else_=0)).label("banks"),
                     func.sum(case((and_(usable, Bank.id.is_(None)), 1), else_=0)).label("free"))
              .outerjoin(Bank, and_(Bank.station_id == Slot.station_id, Bank.slot_n == Slot.n))
              .group_by(Slot.station_id).subquery())
    query = (select(Station, func.coalesce(counts.c.banks, 0), func.coalesce(counts.c.free, 0))
             .outerjoin(counts, counts.c.station_id == Station.id).order_by(Station.code))
    return [StationView(st.code, st.name, st.area, st.country, st.online, st.slots, int(b), int(f),
                        st.last_heartbeat_at) for st, b, f in (await s.execute(query)).all()]


async def log_of(s: AsyncSession, code: str, limit: int = 50) -> list[tuple[StationLog, str | None]]:
    """The station's log, newest first, with each line's bank serial. Raises LookupError for an unknown code."""
    st = await s.scalar(select(Station).where(Station.code == code))
    if st is None:
        raise LookupError(code)
    rows = await s.execute(select(StationLog, Bank.serial).outerjoin(Bank, Bank.id == StationLog.bank_id)
                           .where(StationLog.station_id == st.id)
                           .order_by(StationLog.created_at.desc(), StationLog.id.desc()).limit(limit))
    return [(row, serial) for row, serial in rows.all()]


async def alerts(s: AsyncSession, limit: int = 50) -> list[tuple[StationLog, str | None, str | None]]:
    """Alerts, incidents and offline lines of every station, newest first: (line, station code, bank serial).

    Each kind's newest `limit` from its index (kind, created_at, id), then the newest of those: `kind IN (...)`
    would sort every such line there is (a third of 2,000,000 in bench.console_stations, 0.8 s on SQLite)."""
    newest = [select(StationLog.id).where(StationLog.kind == kind)
              .order_by(StationLog.created_at.desc(), StationLog.id.desc()).limit(limit).subquery()
              for kind in ALERT_KINDS]
    ids = union_all(*(select(sq.c.id) for sq in newest)).subquery()
    rows = await s.execute(select(StationLog, Station.code, Bank.serial)
                           .join(ids, ids.c.id == StationLog.id)
                           .outerjoin(Station, Station.id == StationLog.station_id)
                           .outerjoin(Bank, Bank.id == StationLog.bank_id)
                           .order_by(StationLog.created_at.desc(), StationLog.id.desc()).limit(limit))
    return [tuple(row) for row in rows.all()]


async def stuck_ejects(s: AsyncSession, issued_before: datetime, limit: int = 50
                       ) -> list[tuple[EjectRequest, str, str | None]]:
    """Eject requests still open (pending, unknown) that were issued before `issued_before` (now less the unknown
    timeout: no result, no deciding heartbeat), oldest first: (request, station code, bank serial). An operator
    settles them by hand (by_hand.settle, `enerlectra stations eject-settle`)."""
    rows = await s.execute(select(EjectRequest, Station.code, Bank.serial)
                           .join(Station, Station.id == EjectRequest.station_id)
                           .outerjoin(Bank, Bank.id == EjectRequest.bank_id)
                           .where(EjectRequest.state.in_(ejects.OPEN),
                                  EjectRequest.issued_at <= issued_before)
                           .order_by(EjectRequest.issued_at, EjectRequest.id).limit(limit))
    return [tuple(row) for row in rows.all()]


async def add_note(s: AsyncSession, code: str, text: str, author: str, now: datetime,
                   bank_serial: str | None = None) -> StationLog:
    """An operator's maintenance note on a station (and a bank). Raises LookupError for an unknown code/serial."""
    st = await s.scalar(select(Station).where(Station.code == code))
    if st is None:
        raise LookupError(code)
    bank_id = None
    if bank_serial:
        bank_id = await s.scalar(select(Bank.id).where(Bank.serial == bank_serial.strip().upper()))
        if bank_id is None:
            raise LookupError(bank_serial)
    return journal.note(s, "note", " ".join(text.split()), now, station_id=st.id, bank_id=bank_id, author=author)


async def record_note(s: AsyncSession, actor: audit.Actor, code: str, text: str, now: datetime,
                      bank_serial: str | None = None) -> StationLog:
    """A maintenance note and its audit row (station.note) in one transaction: the CLI's `stations note` and
    the console's form both come here. Raises LookupError for an unknown code/serial (nothing written)."""
    row = await add_note(s, code, text, actor.email, now, bank_serial)
    audit.record(s, actor, "station.note", f"station:{code}", after={"note": row.detail, "bank": bank_serial})
    return row
