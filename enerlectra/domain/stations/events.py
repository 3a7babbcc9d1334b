"""Station events (the evt topic, QoS 1) applied once per evt_id: eject_result, return, fault, boot.

The event row is inserted first, ON CONFLICT DO NOTHING on its evt_id, in the transaction that applies it:
a repeat finds the row there and does nothing, and an event whose changes rolled back left no row either.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.dialects import insert_for
from enerlectra.db.models import Bank, EjectRequest, Slot, Station, StationEvent
from enerlectra.domain.stations import ejects, journal, places, wire
from enerlectra.domain.stations.hooks import StationHooks


async def apply_event(s: AsyncSession, msg: wire.Message, now: datetime, hooks: StationHooks) -> str:
    """What it did: duplicate, or per type (ejects.apply_result's outcome, returned / in_place, fault, boot)."""
    st = await places.station(s, msg.sid)
    body = msg.body
    stored = await s.scalar(insert_for(s)(StationEvent).values(
        evt_id=body["evt_id"], station_id=st.id, type=body["type"], payload=body, received_at=now)
        .on_conflict_do_nothing(index_elements=["evt_id"]).returning(StationEvent.id))
    if stored is None:
        return "duplicate"
    if body.get("slot") is not None and body["slot"] > st.slots:
        journal.note(s, "alert", f"{body['type']} names slot {body['slot']} of {st.slots}: ignored", now,
                     station_id=st.id)
        return "bad_slot"
    if body["type"] == "eject_result":
        return await ejects.apply_result(s, st, body, now, hooks)
    if body["type"] == "return":
        bank, _ = await places.bank_by_serial(s, body["pb"], st, now)
        if await _stamped_before_its_eject(s, st, bank, body):
            journal.note(s, "alert", f"return of {bank.serial} into slot {body['slot']} stamped before the eject that "
                         "rented it out of this station: an earlier rental's, heard late; not a return", now,
                         station_id=st.id, bank_id=bank.id, slot_n=body["slot"])
            return "stale"
        returned = await places.arrive(s, st, bank, body["slot"], body.get("soc"), now, hooks,
                                       said_at=msg.said_at)
        return "returned" if returned else "in_place"
    if body["type"] == "fault":
        slot = await s.get(Slot, (st.id, body["slot"]))
        if slot is not None:
            slot.state, slot.fault, slot.updated_at = "fault", body.get("code") or "fault", now
        journal.note(s, "fault", f"slot {body['slot']}: {body.get('code') or 'fault'} {body.get('detail') or ''}",
                     now, station_id=st.id, slot_n=body["slot"])
        return "fault"
    st.boot_id = wire.boot_id(body["evt_id"])[:40]
    journal.note(s, "boot", f"booted (boot id {st.boot_id})", now, station_id=st.id)
    return "boot"


async def _stamped_before_its_eject(s: AsyncSession, st: Station, bank: Bank, body: dict) -> bool:
    """A return event for a rented bank stamped, by this station's clock in this boot, between the results of
    the two last ejects of that bank out of this station: the earlier rental's return, heard only now (a second
    link behind the first, or sent again under a new evt_id). Taken as a return it would end the running rental
    at its start, for nothing, with its deposit back while its renter holds the bank. Stamps are compared only
    within one station and one boot (a cabinet with a dead clock battery restarts its clock), and one stamped
    before both ejects is a clock gone wrong, not an earlier rental: it counts, clamped by rentals.return_time."""
    if bank.state != "rented":
        return False
    ejects_here = (await s.execute(select(EjectRequest.station_id, EjectRequest.result_evt_id).where(
        EjectRequest.bank_id == bank.id, EjectRequest.state == "ok")
        .order_by(EjectRequest.issued_at.desc()).limit(2))).all()
    if len(ejects_here) < 2 or any(e.station_id != st.id or e.result_evt_id is None for e in ejects_here):
        return False
    boot = wire.boot_id(body["evt_id"])
    if any(wire.boot_id(e.result_evt_id) != boot for e in ejects_here):
        return False
    said = dict((await s.execute(select(StationEvent.evt_id, StationEvent.payload).where(
        StationEvent.evt_id.in_([e.result_evt_id for e in ejects_here])))).all())
    running, earlier = (said.get(e.result_evt_id, {}).get("ts") for e in ejects_here)
    return running is not None and earlier is not None and earlier <= body["ts"] < running
