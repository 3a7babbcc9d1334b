"""The fake station fleet: stations from arguments or YAML, run together on the real broker; a bank taken at one
station goes back at another; `enerlectra sim fleet`; the handset's `return STATION`."""
from __future__ import annotations

import asyncio
import contextlib
import io

import pytest

from simulator.stations.fleet import SAMPLE, Fleet, StationSpec, serial, specs_from_args, specs_from_yaml
from simulator.stations.run import run_fleet
from tests.conftest import random_station_code
from tests.station_backend import Backend, eject
from ussd_app import cli


def test_stations_from_arguments_get_codes_names_areas_and_a_free_slot_or_two():
    specs = specs_from_args(3, 8)
    assert [(s.code, s.name, s.area, s.slots, s.banks) for s in specs] == [
        ("4001", "Station 4001", "Lusaka", 8, 6), ("4002", "Station 4002", "Kitwe", 8, 6),
        ("4003", "Station 4003", "Ndola", 8, 6)]
    assert [s.banks for s in specs_from_args(1, 1) + specs_from_args(1, 2) + specs_from_args(1, 3)] == [1, 1, 2]


def test_the_sample_yaml_is_a_fleet():
    specs = specs_from_yaml(SAMPLE)
    assert [s.code for s in specs] == ["4021", "4022", "5101", "5102"]
    assert specs[2] == StationSpec("5101", "Kariakoo Market", "Dar es Salaam", 8, 6)


@pytest.mark.parametrize("text, says", [
    ("", "a `stations:` list"), ("stations: []", "a `stations:` list"), ("- 4021", "a `stations:` list"),
    ("stations: [{name: X}]", "needs a code"), ("stations: [{code: '12'}]", "4 to 6 digits"),
    ("stations: [{code: '4021', slots: 2, banks: 3}]", "0 to that many banks"),
    ("stations: [{code: '4021', slots: 0}]", "1 to 99 slots"),
    ("stations: [{code: '4021'}, {code: 4021}]", "appears twice"),
])
def test_a_bad_fleet_file_is_refused_with_a_reason(tmp_path, text, says):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=says):
        specs_from_yaml(path)


@pytest.mark.parametrize("stations, slots", [(0, 8), (10_001, 8), (3, 0), (3, 100)])
def test_bad_fleet_arguments_are_refused(stations, slots):
    with pytest.raises(ValueError):
        specs_from_args(stations, slots)


def fleet_of(mqtt_url: str, count: int, slots: int = 4) -> Fleet:
    codes = [random_station_code() for _ in range(count)]
    return Fleet([StationSpec(code, f"S{code}", "Lusaka", slots, slots - 2) for code in codes], mqtt_url)


async def test_a_bank_taken_at_one_station_goes_back_at_another(mqtt_url):
    fleet = fleet_of(mqtt_url, 3)
    first, second, _ = fleet.stations
    pb = serial(first, 1)
    async with Backend(mqtt_url, first) as at_first, Backend(mqtt_url, second) as at_second, fleet:
        command = eject(1, pb)
        await at_first.send(command)
        assert (await at_first.next("evt", "eject_result", req_id=command["req_id"]))["ok"] is True
        assert fleet.held() == [pb]
        slot = await fleet.return_bank(second, soc=55)
        ret = await at_second.next("evt", "return")
        assert (slot, ret["pb"], ret["soc"], ret["sid"]) == (3, pb, 55, second) and fleet.held() == []
        assert all(s.online.is_set() for s in fleet.stations.values())
    serials = [s.bank.pb for st in fleet.stations.values() for s in st.cabinet.slots if s.bank]
    assert len(serials) == len(set(serials)) == 6


async def test_returning_needs_a_bank_in_hand_and_a_station_of_the_fleet(mqtt_url):
    fleet = fleet_of(mqtt_url, 1)
    (code,) = fleet.stations
    async with fleet:
        with pytest.raises(ValueError, match="banks in hand: none"):
            await fleet.return_bank(code)
        with pytest.raises(ValueError, match="no station 999999 in this fleet"):
            await fleet.return_bank("999999", "PB00000001")


async def test_sim_fleet_runs_stations_on_the_broker_until_told_to_stop(mqtt_url):
    said, stop = [], asyncio.Event()
    async with Backend(mqtt_url, "4001") as backend:
        run = asyncio.create_task(run_fleet(2, 4, mqtt_url, heartbeat_seconds=0.2, until=stop, out=said.append))
        hb = await backend.next("hb")
        await backend.next("hb", after=len(backend.seen))      # and the next one, 0.2 s on
        stop.set()
        assert await run == 0
        assert (await backend.next("status", online=False))["sid"] == "4001"
    assert [s["pb"] for s in hb["slots"]] == ["PB00400101", "PB00400102", None, None]
    assert said[0].startswith("fake station fleet: 2 stations on mqtt://") and "4002  Station 4002 (Kitwe)" in said[2]


async def test_sim_fleet_starts_its_own_broker_without_mqtt_url(monkeypatch):
    monkeypatch.delenv("MQTT_URL", raising=False)
    said, stop = [], asyncio.Event()
    run = asyncio.create_task(run_fleet(1, 2, until=stop, out=said.append))
    while len(said) < 2 and not run.done():
        await asyncio.sleep(0.05)
    stop.set()
    assert await run == 0
    assert said[0].startswith("embedded MQTT broker: mqtt://127.0.0.1:") and "MQTT_URL=" in said[0]


def enerlectra(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


@pytest.mark.parametrize("argv, says", [
    (("--slots", "0"), "a whole number from 1 to 99"), (("--stations", "x"), "a whole number from 1 to 10000"),
    (("--heartbeat", "0"), "above 0"), (("--mqtt", "http://broker"), "MQTT URL 'http://broker': mqtt://host:port"),
    (("--file", "/no/such/fleet.yaml"), "No such file"),
])
def test_sim_fleet_refuses_bad_arguments_in_one_line(argv, says):
    code, err = enerlectra("sim", "fleet", *argv)
    assert code == 2 and says in err and "Traceback" not in err, err


def test_sim_fleet_says_so_when_the_broker_is_not_there():
    from enerlectra.ports import free_port

    code, err = enerlectra("sim", "fleet", "--stations", "1", "--mqtt", f"mqtt://127.0.0.1:{free_port()}")
    assert code == 1 and "enerlectra: MQTT broker mqtt://127.0.0.1:" in err and "refused" in err, err
    assert len(err.strip().splitlines()) == 1


async def test_the_handset_returns_the_bank_it_holds_at_a_station(client, mqtt_url):
    from simulator.handset import NO_FLEET, Handset
    from simulator.phone import Phone
    from simulator.transport import connect

    fleet = fleet_of(mqtt_url, 2)
    first, second = fleet.stations
    said: list[str] = []
    async with Backend(mqtt_url, second) as backend, fleet, \
            connect(str(client.make_url("")).rstrip("/")) as transport:
        handset = Handset(Phone(transport, "+260971810002", "*123#"), out=said.append, fleet=fleet)
        await handset.handle("return")
        fleet.stations[first].hand[serial(first, 1)] = fleet.stations[first].cabinet.release(1)   # rented
        await handset.handle(f"return {second}")
        ret = await backend.next("evt", "return")
        await handset.handle(f"return {second} {serial(first, 2)}")      # still in its slot at the first
        await Handset(Phone(transport, "+260971810003"), out=said.append).handle(f"return {second}")
    assert said[0].startswith("usage: return STATION")
    assert said[1] == f"(power bank into slot 3 at station {second}: the station reports the return)"
    assert ret["pb"] == serial(first, 1) and said[3] == NO_FLEET
    assert said[2] == f"error: {serial(first, 2)} is in a slot of station {first}, not in anyone's hand"
