"""The station conformance table of issue 20, station side, in SQL (SQLite, or PostgreSQL with
TEST_DATABASE_URL): heartbeats, ejects and their results (ok, each failure, duplicate, late, expired, unknown
then inventory), returns, faults, offline and back, and 20 renters at once at a station with 8 charged banks."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from enerlectra.db.models import Bank, EjectRequest, Slot, Station, StationLog
from enerlectra.domain.stations import ejects, places, wire
from tests.conftest import random_station_code
from tests.stations_helpers import Cabinet, at, serials

SLOTS = 6


@pytest.fixture
async def cabinet(world) -> Cabinet:
    """A station online with 3 charged banks (slots 1-3: 95, 90, 85), one low (slot 4: 40), 2 empty slots."""
    cab = Cabinet(random_station_code(), SLOTS)
    await world.add(cab.sid, SLOTS)
    for n, (serial, soc) in enumerate(zip(serials(cab.sid[-3:], 4), (95, 90, 85, 40)), start=1):
        cab.banks[n] = (serial, soc)
    await world.apply(cab.status(True), at(0))
    await world.apply(cab.hb(), at(1))
    return cab


async def bank(world, serial: str) -> Bank:
    async with world.db() as s:
        return await s.scalar(select(Bank).where(Bank.serial == serial))


async def request(world, req_id: str) -> EjectRequest:
    async with world.db() as s:
        return await s.scalar(select(EjectRequest).where(EjectRequest.req_id == req_id))


async def station(world, sid: str) -> Station:
    async with world.db() as s:
        return await s.scalar(select(Station).where(Station.code == sid))


async def log_kinds(world, sid: str) -> list[str]:
    async with world.db() as s:
        st = await s.scalar(select(Station).where(Station.code == sid))
        return list(await s.scalars(select(StationLog.kind).where(StationLog.station_id == st.id)
                                    .order_by(StationLog.id)))


def result(cab: Cabinet, req, ok: bool, reason: str | None = None, evt_seq: int | None = None) -> wire.Message:
    return cab.evt("eject_result", evt_seq, req_id=req.req_id, ok=ok, slot=req.slot_n,
                   pb=cab.banks[req.slot_n][0] if cab.banks.get(req.slot_n) else None, reason=reason)


# -- heartbeats ---------------------------------------------------------------------------------------


async def test_a_heartbeat_stores_the_inventory(world, cabinet):
    first = await bank(world, cabinet.banks[1][0])
    assert (first.slot_n, first.soc, first.health, first.state) == (1, 95, 97, "available")
    async with world.db() as s:
        st = await s.scalar(select(Station).where(Station.code == cabinet.sid))
        states = dict((await s.execute(select(Slot.n, Slot.state).where(Slot.station_id == st.id))).all())
    assert st.online and st.last_heartbeat_at is not None
    assert states == {1: "full", 2: "full", 3: "full", 4: "full", 5: "empty", 6: "empty"}


async def test_a_heartbeat_moves_banks_and_alerts_on_one_gone_or_new(world, cabinet):
    moved, gone = cabinet.banks[1], cabinet.banks[2]
    cabinet.banks[5], cabinet.banks[1], cabinet.banks[2] = moved, None, None
    cabinet.banks[6] = ("PBNEW0001", 70)
    await world.apply(cabinet.hb(), at(60))
    assert (await bank(world, moved[0])).slot_n == 5
    lost = await bank(world, gone[0])
    assert (lost.station_id, lost.state) == (None, "missing")
    assert (await bank(world, "PBNEW0001")).slot_n == 6
    kinds = await log_kinds(world, cabinet.sid)
    assert kinds.count("alert") == 1 and kinds.count("note") == 4 + 1      # gone; stock first seen (4, then 1)
    assert world.hooks.calls == []


# -- ejects -------------------------------------------------------------------------------------------


async def test_an_eject_reserves_the_best_charged_bank_and_is_stored_before_publishing(world, cabinet):
    req, command = await world.eject(cabinet.sid, at(10), rental_ref="R-88213")
    stored = await request(world, req.req_id)
    assert (stored.state, stored.slot_n, stored.rental_ref) == ("pending", 1, "R-88213")
    assert (await bank(world, cabinet.banks[1][0])).state == "reserved"
    body = json.loads(command.payload)
    assert command.topic == f"enx/v1/st/{cabinet.sid}/cmd"
    assert body == {"v": 1, "type": "eject", "req_id": req.req_id, "rental_id": "R-88213", "slot": 1,
                    "pb": cabinet.banks[1][0], "issued_at": int(at(10).timestamp()),
                    "expires_at": int(at(40).timestamp())}
    assert len(req.req_id) == 26
    second, _ = await world.eject(cabinet.sid, at(11))
    assert second.slot_n == 2                                            # the reserved one is not offered again


@pytest.mark.parametrize("label, prepare, refusal", [
    ("offline by last will", "will", ejects.StationOffline),
    ("no heartbeat for 180 s", "silent", ejects.StationOffline),
    ("only a low bank left", "low", ejects.NoChargedBank),
    ("charged banks in faulty slots", "faulty", ejects.NoChargedBank),
    ("unknown station", "unknown", places.UnknownStation),
])
async def test_an_eject_is_refused_clearly(world, cabinet, label, prepare, refusal):
    sid, now = cabinet.sid, at(20)
    if prepare == "will":
        await world.apply(cabinet.status(False), at(15))
    elif prepare == "silent":
        now = at(1 + 181)
    elif prepare in ("low", "faulty"):
        for n in (1, 2, 3):
            if prepare == "low":
                cabinet.banks[n] = None
            else:
                cabinet.faults[n] = "lock_motor"
        await world.apply(cabinet.hb(), at(15))
    else:
        sid = "999999" if sid != "999999" else "999998"
    with pytest.raises(refusal):
        await world.eject(sid, now)
    if prepare != "unknown":
        async with world.db() as s:
            assert await s.scalar(select(EjectRequest.id)) is None, "no request stored for a refusal"


@pytest.mark.parametrize("ok, reason, state, bank_state, slot_fault", [
    (True, None, "ok", "rented", None),
    (False, "expired", "expired", "available", None),
    (False, "slot_empty", "failed", "available", None),
    (False, "pb_mismatch", "failed", "available", None),
    (False, "not_popped", "failed", "available", "not_popped"),
    (False, "lock_motor", "failed", "available", "lock_motor"),
    (False, "comm_timeout", "failed", "available", None),
    (False, "busy", "failed", "available", None),
    (False, "unknown", "failed", "available", None),
    (False, "a reason from a newer firmware", "failed", "available", None),
])
async def test_an_eject_result_settles_the_request(world, cabinet, ok, reason, state, bank_state, slot_fault):
    req, _ = await world.eject(cabinet.sid, at(10))
    serial = cabinet.banks[1][0]
    assert await world.apply(result(cabinet, req, ok, reason), at(13)) == state
    settled, b = await request(world, req.req_id), await bank(world, serial)
    expected_reason = None if ok else reason if reason in wire.EJECT_REASONS else "unknown"
    assert (settled.state, settled.reason, b.state) == (state, expected_reason, bank_state)
    assert settled.result_evt_id is not None
    assert b.slot_n == (None if ok else 1)
    async with world.db() as s:
        slot = await s.get(Slot, (b.station_id, 1)) if b.station_id else None
    assert (slot.fault if slot else None) == slot_fault
    assert world.hooks.calls == ([("ejected", req.req_id)] if ok else
                                 [("eject_failed", req.req_id, state, expected_reason)])
    if slot_fault:                                # that slot is out of use: the next renter gets slot 2
        again, _ = await world.eject(cabinet.sid, at(14))
        assert again.slot_n == 2


async def test_a_duplicate_result_changes_nothing(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    first = result(cabinet, req, True, evt_seq=900)
    assert await world.apply(first, at(12)) == "ok"
    assert await world.apply(first, at(12.5)) == "duplicate"              # QoS 1 again: same evt_id
    republished = result(cabinet, req, True)                             # the station's stored result, new evt_id
    assert await world.apply(republished, at(13)) == "duplicate"
    assert world.hooks.calls == [("ejected", req.req_id)]
    assert "incident" not in await log_kinds(world, cabinet.sid)


async def test_a_result_for_a_request_we_never_made_is_an_alert(world, cabinet):
    stray = cabinet.evt("eject_result", req_id=wire.new_req_id(), ok=True, slot=1, pb=cabinet.banks[1][0])
    assert await world.apply(stray, at(12)) == "unknown_request"
    assert (await bank(world, cabinet.banks[1][0])).state == "available"
    assert (await log_kinds(world, cabinet.sid))[-1] == "alert" and world.hooks.calls == []


@pytest.mark.parametrize("bank_gone, state", [(True, "ok"), (False, "failed")])
async def test_no_result_then_the_inventory_decides(world, cabinet, bank_gone, state):
    req, _ = await world.eject(cabinet.sid, at(10))
    assert await world.sweep(at(10 + 34)) == ([], [])                   # 34 s: still pending
    assert (await request(world, req.req_id)).state == "pending"
    asked, _ = await world.sweep(at(10 + 35))
    assert asked == [cabinet.sid] and (await request(world, req.req_id)).state == "unknown"
    assert world.hooks.calls == [], "silence alone decides nothing"
    if bank_gone:
        cabinet.banks[1] = None
    await world.apply(cabinet.hb(), at(47))                             # the station answers `inventory`
    settled = await request(world, req.req_id)
    assert settled.state == state and (settled.reason is None) == bank_gone
    assert (await bank(world, serials(cabinet.sid[-3:], 1)[0])).state == ("rented" if bank_gone else "available")
    expected = ("ejected", req.req_id) if bank_gone else ("eject_failed", req.req_id, "failed", "still_in_slot")
    assert world.hooks.calls == [expected]


async def test_a_station_whose_clock_lags_decides_only_once_its_clock_passes_expires_at(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    await world.sweep(at(45))
    cabinet.ts = int(at(39).timestamp())           # the cabinet's clock is 6 s behind: it could still pop it
    await world.apply(cabinet.hb(), at(46))
    assert (await request(world, req.req_id)).state == "unknown" and world.hooks.calls == []
    cabinet.ts = int(at(41).timestamp())           # past expires_at by its own clock: decisive
    await world.apply(cabinet.hb(), at(47))
    assert (await request(world, req.req_id)).state == "failed"


async def test_a_late_result_settles_an_unknown_request(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    await world.sweep(at(45))
    assert await world.apply(result(cabinet, req, True), at(50)) == "ok"  # it arrived after 35 s: still the truth
    assert world.hooks.calls == [("ejected", req.req_id)]


async def test_a_late_result_that_contradicts_opens_an_incident_and_changes_nothing(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    await world.sweep(at(45))
    await world.apply(cabinet.hb(), at(47))                             # still in its slot: failed
    assert (await request(world, req.req_id)).state == "failed"
    assert await world.apply(result(cabinet, req, True), at(90)) == "incident"
    settled, b = await request(world, req.req_id), await bank(world, cabinet.banks[1][0])
    assert (settled.state, b.state, b.slot_n) == ("failed", "available", 1)
    assert world.hooks.calls == [("eject_failed", req.req_id, "failed", "still_in_slot")]
    assert (await log_kinds(world, cabinet.sid))[-1] == "incident"


async def test_an_unknown_request_at_an_offline_station_waits_for_its_inventory(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    await world.apply(cabinet.status(False), at(12))
    await world.sweep(at(46))
    await world.sweep(at(400))
    assert (await request(world, req.req_id)).state == "unknown" and world.hooks.calls == []
    await world.apply(cabinet.status(True), at(500))
    cabinet.banks[1] = None
    await world.apply(cabinet.hb(), at(501))
    assert (await request(world, req.req_id)).state == "ok"


# -- returns, faults, online ----------------------------------------------------------------------------


async def test_a_return_ends_an_eject_once(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    serial = cabinet.banks[1][0]
    await world.apply(result(cabinet, req, True), at(12))
    other = Cabinet(random_station_code(), 4)                           # returned at another station
    await world.add(other.sid, 4)
    back = other.evt("return", slot=3, pb=serial, soc=41, ok=True)
    assert await world.apply(back, at(3600)) == "returned"
    assert await world.apply(back, at(3601)) == "duplicate"
    again = other.evt("return", slot=3, pb=serial, soc=41, ok=True)       # a new evt_id, the same fact
    assert await world.apply(again, at(3602)) == "in_place"
    b = await bank(world, serial)
    assert (b.state, b.slot_n, b.soc) == ("available", 3, 41)
    assert world.hooks.calls == [("ejected", req.req_id), ("returned", serial, other.sid, 3, 41)]


async def test_a_return_seen_first_in_a_heartbeat_is_one_return(world, cabinet):
    req, _ = await world.eject(cabinet.sid, at(10))
    serial = cabinet.banks[1][0]
    await world.apply(result(cabinet, req, True), at(12))
    cabinet.banks[1], cabinet.banks[5] = None, (serial, 30)
    await world.apply(cabinet.hb(), at(100))
    await world.apply(cabinet.evt("return", slot=5, pb=serial, soc=30, ok=True), at(101))
    assert world.hooks.calls == [("ejected", req.req_id), ("returned", serial, cabinet.sid, 5, 30)]


@pytest.mark.parametrize("serial", ["PBNEVERSEEN1", "missing"])
async def test_a_return_with_no_rental_behind_it_is_available_and_alerted(world, cabinet, serial):
    if serial == "missing":                       # a bank that left its slot with no eject, now back
        serial = cabinet.banks[2][0]
        cabinet.banks[2] = None
        await world.apply(cabinet.hb(), at(60))
        assert (await bank(world, serial)).state == "missing"
    assert await world.apply(cabinet.evt("return", slot=6, pb=serial, soc=50, ok=True), at(70)) == "returned"
    b = await bank(world, serial)
    assert (b.state, b.slot_n) == ("available", 6)
    assert (await log_kinds(world, cabinet.sid))[-1] == "alert"
    assert world.hooks.calls == [("returned", serial, cabinet.sid, 6, 50)]


async def test_a_fault_takes_a_slot_out_until_a_heartbeat_clears_it(world, cabinet):
    assert await world.apply(cabinet.evt("fault", slot=1, code="lock_motor", detail="no current"), at(5)) == "fault"
    req, _ = await world.eject(cabinet.sid, at(6))
    assert req.slot_n == 2
    await world.apply(cabinet.hb(), at(61))                             # slot 1 reports no fault any more
    assert (await log_kinds(world, cabinet.sid))[-2:] == ["fault", "fault_cleared"]


async def test_a_boot_is_recorded(world, cabinet):
    cabinet.boot = "b2"
    assert await world.apply(cabinet.evt("boot"), at(5)) == "boot"
    assert (await station(world, cabinet.sid)).boot_id == "b2"


async def test_offline_by_last_will_and_back_by_status(world, cabinet):
    assert await world.apply(cabinet.status(False), at(30))
    assert not (await station(world, cabinet.sid)).online
    assert not await world.apply(cabinet.status(False), at(31)), "a repeated will logs nothing more"
    await world.apply(cabinet.status(True), at(40))
    await world.apply(cabinet.hb(), at(41))
    assert (await station(world, cabinet.sid)).online
    assert (await log_kinds(world, cabinet.sid)).count("offline") == 1
    await world.eject(cabinet.sid, at(42))


async def test_offline_by_missed_heartbeats_and_back_by_a_heartbeat(world, cabinet):
    assert (await world.sweep(at(1 + 179)))[1] == []
    assert (await world.sweep(at(1 + 180)))[1] == [cabinet.sid]
    assert not (await station(world, cabinet.sid)).online
    with pytest.raises(ejects.StationOffline):
        await world.eject(cabinet.sid, at(200))
    await world.apply(cabinet.hb(), at(240))
    assert (await station(world, cabinet.sid)).online
    await world.eject(cabinet.sid, at(241))
    assert [k for k in await log_kinds(world, cabinet.sid) if k in ("online", "offline")] == \
        ["online", "offline", "online"]


# -- concurrency --------------------------------------------------------------------------------------


async def test_twenty_renters_at_once_at_a_station_with_eight_charged_banks(world):
    cab = Cabinet(random_station_code(), 10)
    await world.add(cab.sid, 10)
    for n, serial in enumerate(serials(cab.sid[-3:], 8), start=1):
        cab.banks[n] = (serial, 90)
    cab.banks[9] = ("PBLOW0001", 20)
    await world.apply(cab.status(True), at(0))
    await world.apply(cab.hb(), at(1))

    async def rent(n: int):
        try:
            return await world.eject(cab.sid, at(5), rental_ref=f"R-{n}")
        except ejects.Refused as refused:
            return refused

    outcomes = await asyncio.gather(*(rent(n) for n in range(20)))
    made = [o[0] for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, ejects.Refused)]
    assert len(made) == 8 and len(refused) == 12
    assert all(r.code == "no_bank" for r in refused)
    assert len({r.bank_id for r in made}) == 8 and len({r.slot_n for r in made}) == 8
    async with world.db() as s:
        assert set(await s.scalars(select(Bank.state).where(Bank.serial.like(f"PB{cab.sid[-3:]}%")))) == {"reserved"}
        assert len((await s.scalars(select(EjectRequest.id))).all()) == 8


# -- the wire -----------------------------------------------------------------------------------------

HB = {"v": 1, "sid": "4021", "ts": 1765000000, "seq": 7, "slots": [{"n": 1, "pb": "PB00012345", "soc": 85,
                                                                    "state": "charging", "fault": None}]}
EVT = {"v": 1, "sid": "4021", "ts": 1765000000, "seq": 8, "type": "return", "evt_id": "4021:b1:8", "slot": 4,
       "pb": "PB00012345", "soc": 41, "ok": True}


@pytest.mark.parametrize("label, topic, body, reason", [
    ("not JSON", "enx/v1/st/4021/hb", b"{nope", "not JSON"),
    ("a list", "enx/v1/st/4021/hb", b"[1]", "not a JSON object"),
    ("another topic", "enx/v1/st/4021/cmd", HB, "not a station topic"),
    ("a code of 3 digits", "enx/v1/st/402/hb", {**HB, "sid": "402"}, "4 to 6 digits"),
    ("another sid", "enx/v1/st/4021/hb", {**HB, "sid": "4022"}, "sid differs"),
    ("version 2", "enx/v1/st/4021/hb", {**HB, "v": 2}, "version is not 1"),
    ("no ts", "enx/v1/st/4021/hb", {k: v for k, v in HB.items() if k != "ts"}, "ts or seq"),
    ("a bool for seq", "enx/v1/st/4021/hb", {**HB, "seq": True}, "ts or seq"),
    ("no slots", "enx/v1/st/4021/hb", {**HB, "slots": []}, "list of slots"),
    ("slot twice", "enx/v1/st/4021/hb", {**HB, "slots": HB["slots"] * 2}, "distinct number"),
    ("soc 101", "enx/v1/st/4021/hb", {**HB, "slots": [{**HB["slots"][0], "soc": 101}]}, "percentage"),
    ("a bad serial", "enx/v1/st/4021/hb", {**HB, "slots": [{**HB["slots"][0], "pb": "X1"}]}, "serial"),
    ("a long state", "enx/v1/st/4021/hb", {**HB, "slots": [{**HB["slots"][0], "state": "x" * 13}]}, "state"),
    ("an unknown event", "enx/v1/st/4021/evt", {**EVT, "type": "explode"}, "unknown event type"),
    ("another station's evt_id", "enx/v1/st/4021/evt", {**EVT, "evt_id": "4022:b1:8"}, "sid:boot_id:seq"),
    ("a return without pb", "enx/v1/st/4021/evt", {**EVT, "pb": None}, "without pb"),
    ("a result without ok", "enx/v1/st/4021/evt", {**EVT, "type": "eject_result", "req_id": "01J", "ok": "yes"},
     "req_id or ok"),
    ("status without online", "enx/v1/st/4021/status", {"up": True}, "'online'"),
    ("status of another sid", "enx/v1/st/4021/status", {"v": 1, "sid": "9", "online": True}, "sid differs"),
])
def test_the_wire_refuses_what_the_protocol_does_not_allow(label, topic, body, reason):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(wire.BadMessage, match=reason):
        wire.parse(topic, raw)


def test_the_wire_takes_the_protocols_own_examples():
    hb = wire.parse("enx/v1/st/4021/hb", json.dumps(HB).encode())
    assert hb.slots == (wire.SlotReport(1, "PB00012345", 85, "charging", None),)
    assert wire.parse("enx/v1/st/4021/evt", json.dumps(EVT).encode()).type == "return"
    assert wire.parse("enx/v1/st/4021/status", b'{"online":false}').body == {"online": False}
    ids = [wire.new_req_id(1_765_000_000_000 + n) for n in range(3)]
    assert ids == sorted(ids) and all(len(i) == 26 for i in ids)


async def test_an_event_naming_a_slot_the_station_lacks_is_ignored(world, cabinet):
    assert await world.apply(cabinet.evt("return", slot=SLOTS + 1, pb="PBX0001", soc=5, ok=True), at(5)) == "bad_slot"
    assert await bank(world, "PBX0001") is None and world.hooks.calls == []


def test_the_rules_keep_unknown_after_the_ttl():
    with pytest.raises(ValueError, match="UNKNOWN"):
        ejects.Rules(80, timedelta(seconds=30), timedelta(seconds=30), timedelta(seconds=180))
