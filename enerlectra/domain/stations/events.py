"""Station events (the evt topic, QoS 1) applied once per evt_id: eject_result, return, fault, boot.

The event row is inserted first, ON CONFLICT DO NOTHING on its evt_id, in the transaction that applies it:
a repeat finds the row there and does nothing, and an event whose changes rolled back left no row either.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.dialects import insert_for
from enerlectra.db.models import Slot, StationEvent
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
