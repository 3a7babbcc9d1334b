"""The fake station against a Mosquitto of our own (production's broker, protocols.md s.12) on a free port,
never the machine's 1883: one rental's worth of the protocol, the last will and the comeback."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from enerlectra.ports import free_port
from simulator.stations.station import FakeStation
from tests.conftest import random_station_code
from tests.station_backend import Backend, eject

MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)


@pytest.fixture
def mosquitto_url(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("no mosquitto binary here (apt-get install mosquitto)")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {proc.stderr.read().decode()[-300:]}")
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_a_rental_a_power_cut_and_a_comeback_on_mosquitto(mosquitto_url):
    sid = random_station_code()
    station = FakeStation(sid, 3, mqtt_url=mosquitto_url)
    station.cabinet.load(1, "PB00000001", 90)
    async with Backend(mosquitto_url, sid) as backend:
        await station.start()
        hb = await backend.next("hb")
        assert [s["pb"] for s in hb["slots"]] == ["PB00000001", None, None]
        command = eject(1, "PB00000001")
        await backend.send(command)
        first = await backend.next("evt", "eject_result", req_id=command["req_id"])
        mark = len(backend.seen)
        await backend.send(command)
        assert await backend.next("evt", "eject_result", after=mark, req_id=command["req_id"]) == first
        assert first["ok"] is True and station.ejects[command["req_id"]] == 1
        assert await station.return_bank("PB00000001", soc=70) == 1
        assert (await backend.next("evt", "return"))["soc"] == 70
        old_boot = station.boot_id
        await station.crash()
        assert await backend.next("status", online=False, seconds=10) == {"v": 1, "sid": sid, "online": False}
        mark = len(backend.seen)
        await station.comeback()
        boot = await backend.next("evt", "boot", after=mark)
        assert boot["boot_id"] != old_boot and (await backend.next("hb", after=mark))["slots"][0]["soc"] == 70
        await station.stop()
        assert (await backend.next("status", after=mark, online=False))["sid"] == sid   # a clean stop says so too
