"""Heartbeats and online state: the heartbeat's slot inventory is the truth for what sits where.

A heartbeat moves banks (one that left its slot leaves; one that appears arrives: a return if it was out),
records each bank's charge and health and each slot's state, logs faults that appear or clear, brings the
station online, and settles its unknown eject requests. The station is offline after its last will, or
after `offline_after` with no heartbeat (`sweep_offline`, ticked by the station link); a heartbeat or an
online status brings it back. No ejects go to an offline station (ejects.request_eject).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, EjectRequest, Slot, Station
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.stations import ejects, journal, places
from enerlectra.domain.stations.hooks import StationHooks
from enerlectra.domain.stations.wire import Message, SlotReport


async def apply_heartbeat(s: AsyncSession, msg: Message, now: datetime, hooks: StationHooks) -> list[str]:
    """Apply one hb; returns the eject requests it settled (unknown ones, decided from this inventory)."""
    st = await places.station(s, msg.sid)
    reports = {r.n: r for r in msg.slots if r.n <= st.slots}
    if len(reports) < len(msg.slots):
        journal.note(s, "alert", f"heartbeat names slots beyond the {st.slots} registered: ignored", now,
                     station_id=st.id)
    here = (await s.scalars(select(Bank).where(Bank.station_id == st.id).with_for_update())).all()
    shown = {r.pb for r in reports.values() if r.pb}
    moved = set()
    for bank in here:                          # first everything that left: the slots are free for arrivals
        if bank.slot_n in reports and reports[bank.slot_n].pb != bank.serial:
            if reports[bank.slot_n].pb is None and await _before_its_request(s, st, bank, msg.body["ts"]):
                journal.note(s, "alert", f"heartbeat stamped before the eject of {bank.serial} was issued shows slot "
                             f"{bank.slot_n} empty: stale, not taken out", now, station_id=st.id, bank_id=bank.id,
                             slot_n=bank.slot_n)
                continue
            failed = None if bank.serial in shown else await ejects.failed_before_leaving(s, st, bank)
            if failed is not None:
                _gone_after_failure(s, st, bank, failed, now)
            places.leave(s, st, bank, now, moving=bank.serial in shown)
            moved |= {bank.serial} & shown
    await s.flush()
    for report in reports.values():
        if report.pb is not None:
            bank, new = await places.bank_by_serial(s, report.pb, st, now)
            if await _before_its_eject(s, st, bank, report.n, msg.body["ts"]):
                journal.note(s, "alert", f"heartbeat stamped before the eject of {bank.serial} from slot {report.n} "
                             "still shows it there: stale, not a return", now, station_id=st.id, bank_id=bank.id,
                             slot_n=report.n)
                await _slot(s, st, report, now)
                continue
            await places.arrive(s, st, bank, report.n, report.soc, now, hooks, said_at=msg.said_at,
                                first_seen=new, moving=report.pb in moved)
            if report.health is not None:
                bank.health = report.health
            bank.updated_at = now
        await _slot(s, st, report, now)
    st.last_heartbeat_at = now
    if not st.online:
        set_online(s, st, True, now, "heartbeat")
    return await ejects.decide_unknown(s, st, msg.body["ts"], now, hooks)


def _gone_after_failure(s: AsyncSession, st: Station, bank: Bank, req: EjectRequest, now: datetime) -> None:
    """The renter may hold a bank whose rental was cancelled with the deposit back: an operator settles it (the
    renter is asked to return it or pay; no automatic charge on a contradiction, protocols.md s.12)."""
    journal.note(s, "incident", f"bank {bank.serial} left slot {bank.slot_n} after its eject {req.req_id} was "
                 f"settled {req.state} ({req.reason}): rental {req.rental_ref or '-'} was cancelled with its deposit "
                 "back; the renter may hold the bank", now, station_id=st.id, bank_id=bank.id, slot_n=bank.slot_n)


async def _before_its_request(s: AsyncSession, st: Station, bank: Bank, station_ts: int) -> bool:
    """A reserved bank shown gone by a heartbeat stamped (the station's clock) no later than its open request was
    issued: an inventory taken before the bank came back into its slot and delivered late. Taken out, a failed
    result would then be judged "gone" and start a rental for a renter who holds nothing (ejects.settle); kept,
    a later heartbeat still shows where it is."""
    if bank.state != "reserved":
        return False
    issued = await s.scalar(select(EjectRequest.issued_at).where(
        EjectRequest.bank_id == bank.id, EjectRequest.station_id == st.id, EjectRequest.slot_n == bank.slot_n,
        EjectRequest.state.in_(ejects.OPEN)).order_by(EjectRequest.issued_at.desc()).limit(1))
    return issued is not None and station_ts <= int(aware_utc(issued).timestamp())


async def _before_its_eject(s: AsyncSession, st: Station, bank: Bank, n: int, station_ts: int) -> bool:
    """A rented bank shown back in the slot an eject of this station took it from, by a heartbeat stamped (the
    station's clock) no later than that eject's expires_at: an inventory taken before the eject and delivered
    after its result (QoS 0 reordered, a second link process behind the first). Taking it as a return would end
    the rental and give the deposit back while the renter holds the bank; a real return into that slot shows in
    the return event or in the next heartbeat."""
    if bank.state != "rented":
        return False
    took = await s.scalar(select(EjectRequest.expires_at).where(
        EjectRequest.bank_id == bank.id, EjectRequest.station_id == st.id, EjectRequest.slot_n == n,
        EjectRequest.state == "ok").order_by(EjectRequest.issued_at.desc()).limit(1))
    return took is not None and station_ts <= aware_utc(took).timestamp()


async def _slot(s: AsyncSession, st: Station, report: SlotReport, now: datetime) -> None:
    slot = await s.get(Slot, (st.id, report.n))
    if slot is None:
        slot = Slot(station_id=st.id, n=report.n, state="unknown")
        s.add(slot)
    if report.fault != slot.fault:
        if report.fault:
            journal.note(s, "fault", f"slot {report.n}: {report.fault}", now, station_id=st.id, slot_n=report.n)
        else:
            journal.note(s, "fault_cleared", f"slot {report.n}: {slot.fault} cleared", now, station_id=st.id,
                         slot_n=report.n)
    slot.state, slot.fault, slot.updated_at = report.state, report.fault, now


def set_online(s: AsyncSession, st: Station, online: bool, now: datetime, why: str) -> bool:
    """True when this changed the station's state (and logged it)."""
    if st.online == online:
        return False
    st.online, st.online_changed_at = online, now
    journal.note(s, "online" if online else "offline", f"{'online' if online else 'offline'}: {why}", now,
                 station_id=st.id, author="link")
    return True


async def apply_status(s: AsyncSession, msg: Message, now: datetime) -> bool:
    """The retained status: {"online": true} on connect, the last will {"online": false}."""
    st = await places.station(s, msg.sid)
    online = msg.body["online"]
    return set_online(s, st, online, now, "station connected" if online else "last will (connection lost)")


async def sweep_offline(s: AsyncSession, rules: ejects.Rules, now: datetime) -> list[str]:
    """Stations online with no heartbeat (nor a status) for `offline_after`: offline. Their codes."""
    heard = func.coalesce(Station.last_heartbeat_at, Station.online_changed_at, Station.created_at)
    since = func.coalesce(Station.online_changed_at, Station.created_at)
    late = (await s.scalars(select(Station).where(Station.online.is_(True), heard <= now - rules.offline_after,
                                                  since <= now - rules.offline_after)
                            .with_for_update(skip_locked=True))).all()
    for st in late:
        set_online(s, st, False, now, f"no heartbeat for {int(rules.offline_after.total_seconds())} s")
    return [st.code for st in late]
