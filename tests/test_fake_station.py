"""The fake station against a real broker, with a raw aiomqtt client playing the backend: the conformance table
of protocol v1 as a station speaks it (protocols.md s.12), its failure modes, and its battery model."""
from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from simulator.stations.cabinet import Battery, Cabinet, StationFull
from simulator.stations.station import FakeStation, StationOffline, broker_address
from tests.conftest import random_station_code
from tests.station_backend import Backend, eject

PB1, PB2 = "PB00000001", "PB00000002"


def evt_id_pattern(station: FakeStation) -> re.Pattern:
    return re.compile(rf"^{station.sid}:{station.boot_id}:\d+$")


@pytest.fixture
async def rig(mqtt_url):
    """A 4-slot station (slot 1: PB1 at 80 %, slot 2: PB2 full, 3 and 4 empty) and the backend watching it."""
    sid = random_station_code()
    station = FakeStation(sid, 4, mqtt_url=mqtt_url, heartbeat_seconds=60)
    station.cabinet.load(1, PB1, 80)
    station.cabinet.load(2, PB2, 100)
    async with Backend(mqtt_url, sid) as backend:
        await station.start()
        await backend.next("hb")
        yield station, backend
        await station.stop()


async def test_on_boot_it_says_online_boots_and_sends_its_whole_inventory(rig):
    station, backend = rig
    status = await backend.next("status")
    boot = await backend.next("evt", "boot")
    hb = await backend.next("hb")
    head = {"v": 1, "sid": station.sid}
    assert status.items() >= {**head, "online": True, "seq": 1}.items() and abs(status["ts"] - time.time()) < 5
    assert boot.items() >= {**head, "seq": 2, "boot_id": station.boot_id, "slots": 4}.items()
    assert boot["evt_id"] == f"{station.sid}:{station.boot_id}:2"
    assert hb["seq"] == 3 and hb["slots"] == [
        {"n": 1, "pb": PB1, "soc": 80, "state": "charging", "fault": None, "locked": False},
        {"n": 2, "pb": PB2, "soc": 100, "state": "full", "fault": None, "locked": False},
        {"n": 3, "pb": None, "state": "empty", "fault": None, "locked": False},
        {"n": 4, "pb": None, "state": "empty", "fault": None, "locked": False}]
    async with Backend(backend.url, station.sid) as later:      # retained: a later subscriber sees it
        await later.next("status", online=True)
        assert [retained for kind, _, retained in later.seen if kind == "status"] == [True]


# label, how to prepare the station, changes to the eject of PB1 from slot 1, ok, reason, PB1 still in slot 1
EJECTS = [
    ("ok", None, {}, True, None, False),
    ("expired", None, {"expires_at": time.time() - 1}, False, "expired", True),
    ("slot empty", None, {"slot": 3}, False, "slot_empty", True),
    ("pb mismatch", None, {"pb": PB2}, False, "pb_mismatch", True),
    ("not popped", lambda s: s.faults.next("not_popped"), {}, False, "not_popped", True),
    ("lock motor", lambda s: s.faults.next("lock_fault"), {}, False, "lock_motor", True),
    ("locked slot", lambda s: setattr(s.cabinet.slot(1), "locked", True), {}, False, "busy", True),
    ("no such slot", None, {"slot": 9}, False, "unknown", True),
]


@pytest.mark.parametrize("label, prepare, changes, ok, reason, stays", EJECTS, ids=[c[0] for c in EJECTS])
async def test_eject(rig, label, prepare, changes, ok, reason, stays):
    station, backend = rig
    if prepare:
        prepare(station)
    command = {**eject(1, PB1), **changes}
    await backend.send(command)
    result = await backend.next("evt", "eject_result", req_id=command["req_id"])
    assert result.items() >= {"v": 1, "sid": station.sid, "ok": ok, "reason": reason, "slot": command["slot"],
                              "pb": command["pb"]}.items()
    assert evt_id_pattern(station).match(result["evt_id"]) and result["evt_id"].endswith(f":{result['seq']}")
    assert (station.cabinet.slot(1).bank is not None) == stays
    assert station.ejects[command["req_id"]] == (0 if stays else 1)
    assert (PB1 in station.hand) == (not stays)


async def test_a_lock_motor_failure_also_reports_a_fault_and_leaves_the_slot_faulted(rig):
    station, backend = rig
    station.faults.next("lock_fault")
    await backend.send(eject(1, PB1))
    fault = await backend.next("evt", "fault")
    assert fault.items() >= {"slot": 1, "code": "lock_motor"}.items() and fault["detail"]
    assert evt_id_pattern(station).match(fault["evt_id"])
    mark = len(backend.seen)
    await backend.send({"v": 1, "type": "inventory"})
    hb = await backend.next("hb", after=mark)
    assert hb["slots"][0].items() >= {"pb": PB1, "fault": "lock_motor"}.items()
    again = eject(1, PB1)
    await backend.send(again)                      # until maintenance, the slot stays faulted
    assert (await backend.next("evt", "eject_result", req_id=again["req_id"]))["reason"] == "lock_motor"
    station.clear_fault(1)
    fixed = eject(1, PB1)
    await backend.send(fixed)
    assert (await backend.next("evt", "eject_result", req_id=fixed["req_id"]))["ok"] is True


async def test_a_repeated_req_id_gets_the_stored_result_and_never_a_second_eject(rig):
    station, backend = rig
    command = eject(1, PB1)
    await backend.send(command)
    first = await backend.next("evt", "eject_result", req_id=command["req_id"])
    mark = len(backend.seen)
    station.cabinet.load(1, PB1, 50)              # even if the same bank were back in the slot
    await backend.send(command)
    again = await backend.next("evt", "eject_result", after=mark, req_id=command["req_id"])
    assert again == first and station.ejects[command["req_id"]] == 1
    assert station.cabinet.slot(1).bank is not None


async def test_it_remembers_the_last_256_req_ids(rig):
    station, backend = rig
    station.results.clear()
    for n in range(300):
        station.results[f"r{n}"] = b"{}"
        while len(station.results) > 256:
            station.results.popitem(last=False)
    command = eject(1, PB1, req_id="r299")        # remembered: the stored result, no eject
    await backend.send(command)
    await backend.quiet(0.5)
    assert station.ejects["r299"] == 0 and station.cabinet.slot(1).bank is not None
    await backend.send(eject(1, PB1, req_id="r0"))  # forgotten long ago: a new command
    assert (await backend.next("evt", "eject_result", req_id="r0"))["ok"] is True


async def test_a_duplicate_result_comes_twice_with_one_evt_id(rig):
    station, backend = rig
    station.faults.next("duplicate_result")
    command = eject(1, PB1)
    await backend.send(command)
    await backend.next("evt", "eject_result", req_id=command["req_id"])
    await backend.quiet(0.4)
    results = [b for b in backend.bodies("evt", "eject_result") if b["req_id"] == command["req_id"]]
    assert len(results) == 2 and results[0] == results[1] and station.ejects[command["req_id"]] == 1


async def test_a_lost_result_ejects_silently_and_the_inventory_tells(rig):
    station, backend = rig
    station.faults.next("lost_result")
    command = eject(1, PB1)
    await backend.send(command)
    mark = await backend.quiet(1.0)
    assert not [b for b in backend.bodies("evt", "eject_result") if b["req_id"] == command["req_id"]]
    await backend.send({"v": 1, "type": "inventory"})
    hb = await backend.next("hb", after=mark)
    assert hb["slots"][0]["pb"] is None                      # bank gone = ejected (protocols.md: eject_unknown)
    await backend.send(command)                              # asking again gets the stored result
    assert (await backend.next("evt", "eject_result", req_id=command["req_id"]))["ok"] is True
    assert station.ejects[command["req_id"]] == 1


async def test_a_slow_station_answers_late(rig):
    station, backend = rig
    station.faults.set("slow", seconds=0.8)
    command = eject(1, PB1)
    started = time.monotonic()
    await backend.send(command)
    await backend.next("evt", "eject_result", req_id=command["req_id"])
    assert time.monotonic() - started >= 0.75


async def test_failure_modes_for_the_next_eject_are_used_once(rig):
    station, backend = rig
    station.faults.next("not_popped")
    first, second = eject(1, PB1), eject(1, PB1)
    for command in (first, second):
        await backend.send(command)
    assert (await backend.next("evt", "eject_result", req_id=first["req_id"]))["reason"] == "not_popped"
    assert (await backend.next("evt", "eject_result", req_id=second["req_id"]))["ok"] is True


async def test_inventory_sends_a_heartbeat_now(rig):
    station, backend = rig
    mark = len(backend.seen)
    await backend.send({"v": 1, "type": "inventory"})
    hb = await backend.next("hb", after=mark, seconds=2)
    assert [s["pb"] for s in hb["slots"]] == [PB1, PB2, None, None]


async def test_lock_and_unlock_a_slot(rig):
    station, backend = rig
    mark = len(backend.seen)
    await backend.send({"v": 1, "type": "lock_slot", "slot": 1})
    assert (await backend.next("hb", after=mark))["slots"][0]["locked"] is True
    refused = eject(1, PB1)
    await backend.send(refused)
    assert (await backend.next("evt", "eject_result", req_id=refused["req_id"]))["reason"] == "busy"
    mark = len(backend.seen)
    await backend.send({"v": 1, "type": "unlock_slot", "slot": 1})
    assert (await backend.next("hb", after=mark))["slots"][0]["locked"] is False
    allowed = eject(1, PB1)
    await backend.send(allowed)
    assert (await backend.next("evt", "eject_result", req_id=allowed["req_id"]))["ok"] is True


async def test_a_returned_bank_goes_into_a_free_slot_and_is_reported(rig):
    station, backend = rig
    command = eject(2, PB2)
    await backend.send(command)
    await backend.next("evt", "eject_result", req_id=command["req_id"])
    slot = await station.return_bank(PB2, soc=41)
    ret = await backend.next("evt", "return")
    assert slot == 2 and ret.items() >= {"v": 1, "sid": station.sid, "slot": 2, "pb": PB2, "soc": 41,
                                         "ok": True}.items()
    assert evt_id_pattern(station).match(ret["evt_id"]) and PB2 not in station.hand
    assert station.cabinet.slot(2).bank.charging


async def test_a_full_station_refuses_a_return_and_the_bank_stays_in_hand(mqtt_url):
    sid = random_station_code()
    station = FakeStation(sid, 2, mqtt_url=mqtt_url)
    station.cabinet.load(1, PB1, 50)
    station.cabinet.load(2, PB2, 50)
    async with Backend(mqtt_url, sid) as backend, station:
        with pytest.raises(StationFull, match=f"station {sid} is full: no free slot for PB00000077"):
            await station.return_bank("PB00000077", soc=30)
        await backend.quiet(0.4)
        assert backend.bodies("evt", "return") == [] and "PB00000077" in station.hand


@pytest.mark.parametrize("pb, soc, says", [("PB1", 10, "'PB' and 8 digits"), (PB1, 101, "0 to 100"),
                                           (PB1, True, "0 to 100")])
async def test_a_return_with_a_bad_serial_or_charge_is_refused_clearly(rig, pb, soc, says):
    station, _ = rig
    with pytest.raises(ValueError, match=says):
        await station.return_bank(pb, soc)


async def test_a_station_that_loses_power_leaves_its_will_and_comes_back_with_a_new_boot(rig):
    station, backend = rig
    old_boot = station.boot_id
    await station.crash()
    offline = await backend.next("status", online=False, seconds=10)
    assert offline == {"v": 1, "sid": station.sid, "online": False}
    with pytest.raises(StationOffline, match="offline"):
        await station.return_bank(PB2)
    mark = len(backend.seen)
    await station.comeback()
    boot = await backend.next("evt", "boot", after=mark)
    status = await backend.next("status", after=mark, online=True)
    hb = await backend.next("hb", after=mark)
    assert boot["boot_id"] == station.boot_id != old_boot and boot["evt_id"] == f"{station.sid}:{station.boot_id}:2"
    assert (status["seq"], hb["seq"]) == (1, 3) and [s["pb"] for s in hb["slots"]] == [PB1, PB2, None, None]


async def test_offline_mid_rental_ejects_then_drops_and_the_result_waits_for_the_repeat(rig):
    station, backend = rig
    station.faults.next("offline")
    command = eject(1, PB1)
    await backend.send(command)
    await backend.next("status", online=False, seconds=10)
    assert not backend.bodies("evt", "eject_result") and station.cabinet.slot(1).bank is None
    mark = len(backend.seen)
    await station.comeback()
    assert (await backend.next("hb", after=mark))["slots"][0]["pb"] is None
    await backend.send(command)
    result = await backend.next("evt", "eject_result", req_id=command["req_id"])
    assert result["ok"] is True and station.ejects[command["req_id"]] == 1


async def test_messages_carry_a_per_boot_seq_and_events_a_unique_evt_id(rig):
    station, backend = rig
    for _ in range(3):
        await backend.send({"v": 1, "type": "inventory"})
    command = eject(1, PB1)
    await backend.send(command)
    await backend.next("evt", "eject_result", req_id=command["req_id"])
    await station.return_bank(PB1)
    await backend.next("evt", "return")
    seqs = sorted(b["seq"] for k, b, _ in backend.seen if "seq" in b)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 7
    events = backend.bodies("evt")
    assert len({e["evt_id"] for e in events}) == len(events)
    assert all(e["evt_id"] == f"{station.sid}:{station.boot_id}:{e['seq']}" for e in events)
    assert all({"v", "sid", "ts", "seq"} <= b.keys() for k, b, _ in backend.seen if k != "status" or b["online"])


async def test_heartbeats_come_every_heartbeat_seconds(mqtt_url):
    sid = random_station_code()
    station = FakeStation(sid, 2, mqtt_url=mqtt_url, heartbeat_seconds=0.25)
    async with Backend(mqtt_url, sid) as backend, station:
        await backend.next("hb")
        started = time.monotonic()
        await backend.quiet(1.4)
        beats = len(backend.bodies("hb")) - 1
        elapsed = time.monotonic() - started
    assert elapsed / 0.25 - 2 <= beats <= elapsed / 0.25 + 1
    assert all(len(hb["slots"]) == 2 for hb in backend.bodies("hb"))


MALFORMED = [b"not json", b"\xff\xfe", b"[1, 2]", b'"eject"', json.dumps({"type": "eject"}),
             json.dumps({**eject(1, PB1), "v": 2}), json.dumps({"v": 1, "type": "reboot"}),
             json.dumps({k: v for k, v in eject(1, PB1).items() if k != "req_id"}),
             json.dumps({**eject(1, PB1), "req_id": ""}), json.dumps(eject(1, PB1, req_id="x" * 65)),
             json.dumps(eject("1", PB1)), json.dumps(eject(True, PB1)), json.dumps(eject(1, PB1, expires_at="soon")),
             json.dumps({"v": 1, "type": "lock_slot"}), json.dumps({"v": 1, "type": "lock_slot", "slot": 99})]


async def test_malformed_commands_and_other_stations_commands_are_ignored(rig, mqtt_url):
    station, backend = rig
    other = random_station_code()
    for payload in MALFORMED:
        await backend.send(payload)
    await backend.send(eject(1, PB1), to=f"enx/v1/st/{other}/cmd")
    await backend.quiet(0.5)
    assert backend.bodies("evt", "eject_result") == [] and not station.ejects
    assert station.online.is_set() and not station.cabinet.slot(1).locked
    command = eject(1, PB1)                         # and it still works
    await backend.send(command)
    assert (await backend.next("evt", "eject_result", req_id=command["req_id"]))["ok"] is True


async def test_a_foreign_retained_command_is_never_obeyed(mqtt_url):
    """amqtt 0.12 hands a connecting client retained messages of topics others subscribed to."""
    sid, other = random_station_code(), random_station_code()
    async with Backend(mqtt_url, other) as neighbour:
        await neighbour.client.subscribe(f"enx/v1/st/{other}/cmd", qos=1)
        await neighbour.client.publish(f"enx/v1/st/{other}/cmd", json.dumps(eject(1, PB1)), qos=1, retain=True)
        station = FakeStation(sid, 2, mqtt_url=mqtt_url)
        station.cabinet.load(1, PB1, 90)
        try:
            async with Backend(mqtt_url, sid) as backend, station:
                await backend.quiet(0.6)
                assert not station.ejects and backend.bodies("evt", "eject_result") == []
        finally:
            await neighbour.client.publish(f"enx/v1/st/{other}/cmd", b"", qos=1, retain=True)


# -- the battery, on a clock of the test's own --------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("soc, ticks, in_slot, expected, state", [
    (40, 0, True, 40, "charging"), (40, 3, True, 55, "charging"), (90, 2, True, 100, "full"),
    (90, 50, True, 100, "full"), (40, 3, False, 34, None), (3, 5, False, 0, None), (0, 10, True, 50, "charging"),
])
def test_banks_charge_in_a_slot_and_drain_in_a_hand(soc, ticks, in_slot, expected, state):
    clock, battery = Clock(), Battery(tick_seconds=60, charge_per_tick=5, drain_per_tick=2)
    cabinet = Cabinet(2, battery, clock)
    cabinet.load(1, PB1, soc)
    if not in_slot:
        bank = cabinet.release(1)
    clock.now += ticks * 60 + 59                   # a part tick does not count
    if in_slot:
        assert cabinet.inventory()[0].items() >= {"soc": expected, "state": state}.items()
    else:
        assert bank.soc_at(clock(), battery) == expected


def test_a_returned_bank_keeps_the_charge_it_came_back_with_and_charges_from_there():
    clock, battery = Clock(), Battery(tick_seconds=60, charge_per_tick=5, drain_per_tick=2)
    cabinet = Cabinet(1, battery, clock)
    cabinet.load(1, PB1, 80)
    bank = cabinet.release(1)
    clock.now += 600                               # ten ticks in a hand: 80 -> 60
    assert cabinet.take_back(bank) == 1 and cabinet.inventory()[0]["soc"] == 60
    clock.now += 120
    assert cabinet.inventory()[0]["soc"] == 70


@pytest.mark.parametrize("url, address", [
    ("mqtt://127.0.0.1:18830", ("127.0.0.1", 18830, None)), ("mqtt://u:s%40cret@broker", ("broker", 1883, "s@cret")),
])
def test_broker_address(url, address):
    assert broker_address(url) == address


@pytest.mark.parametrize("url", ["http://127.0.0.1:1883", "mqtt://", "127.0.0.1:1883"])
def test_a_broker_url_that_is_not_mqtt_is_refused_clearly(url):
    with pytest.raises(ValueError, match="mqtt://host:port"):
        broker_address(url)


@pytest.mark.parametrize("code", ["123", "1234567", "40a1", ""])
def test_a_station_code_is_4_to_6_digits(code):
    with pytest.raises(ValueError, match="4 to 6 digits"):
        FakeStation(code, 4, mqtt_url="mqtt://127.0.0.1:1")


async def test_a_station_cannot_be_started_twice(rig):
    station, _ = rig
    with pytest.raises(RuntimeError, match="already running"):
        await station.start()
    await asyncio.sleep(0)
