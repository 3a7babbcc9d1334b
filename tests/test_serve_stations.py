"""`enerlectra serve` and the stations: unset MQTT_URL starts the embedded broker (MQTT_PORT) and exactly one
subscribing station link, whatever the number of web processes; a station that connects is seen online."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import aiomqtt
import pytest
from sqlalchemy import select

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import Station
from enerlectra.ports import free_port
from simulator import load
from tests.conftest import random_station_code
from tests.stations_helpers import Cabinet
from ussd_app import station_process


async def connected(port: int, sid: str, seconds: float = 20) -> aiomqtt.Client:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        client = aiomqtt.Client("127.0.0.1", port, identifier=f"st-{sid}", username=sid)
        try:
            await client.__aenter__()
            return client
        except aiomqtt.MqttError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def seen_online(home, sid: str, seconds: float = 20) -> bool:
    engine = make_engine(f"sqlite+aiosqlite:///{home / 'enerlectra.sqlite3'}", read_only=True)
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            async with make_sessionmaker(engine)() as s:
                st = await s.scalar(select(Station).where(Station.code == sid))
            if st is not None and st.online and st.last_heartbeat_at is not None:
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await engine.dispose()


@pytest.mark.parametrize("workers", [1, 2])
async def test_serve_runs_the_broker_and_one_link(tmp_path, capfd, workers):
    home, port, sid = tmp_path / "home", free_port(), random_station_code()
    env = {k: v for k, v in os.environ.items() if k not in load.NOT_INHERITED + ("MQTT_URL",)}
    server = await load.start_server(workers, home, env={"MQTT_PORT": str(port), "LOG_LEVEL": "INFO"})
    try:
        added = subprocess.run([sys.executable, "-m", "ussd_app.cli", "stations", "add", sid, "--name", "Shop",
                                "--area", "Matero", "--slots", "2"], env={**env, "ENERLECTRA_HOME": str(home)},
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        assert (home / "mqtt.url").read_text().strip() == f"mqtt://127.0.0.1:{port}"
        station = await connected(port, sid)
        try:
            cab = Cabinet(sid, 2)
            cab.banks[1] = ("PBSERVE001", 90)
            await station.publish(f"enx/v1/st/{sid}/status", json.dumps({"online": True}), qos=1, retain=True)
            await station.publish(f"enx/v1/st/{sid}/hb", json.dumps(cab.hb().body), qos=0)
            assert await seen_online(home, sid)
        finally:
            await station.__aexit__(None, None, None)
        err = ""
        for _ in range(100):                   # each web process's publisher connects (after a miss, 1 s later)
            err += capfd.readouterr().err
            if err.count("station link connected (publisher)") >= (0 if workers == 1 else workers):
                break
            await asyncio.sleep(0.1)
    finally:
        assert server.stop() == 0
    err += capfd.readouterr().err
    assert err.count("station link connected (subscriber)") == 1, err[-3000:]
    assert err.count("station link connected (publisher)") == (0 if workers == 1 else workers)
    assert f"embedded MQTT broker: mqtt://127.0.0.1:{port}" in err and "Traceback" not in err


def test_an_mqtt_port_in_use_gets_one_line(tmp_path, monkeypatch):
    import socket

    from tests.test_cli import assert_one_line, enerlectra

    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MQTT_URL", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        monkeypatch.setenv("MQTT_PORT", str(taken.getsockname()[1]))
        assert_one_line(*enerlectra("serve", "--workers", "1", "--port", str(free_port())), 1, "MQTT_PORT")


def test_mqtt_url_set_starts_no_broker(tmp_path):
    from enerlectra.settings import Settings

    given = Settings(home=tmp_path, mqtt_url="mqtt://user:pw@broker:1883")
    assert station_process.plan_broker(given, port_set=False) == (given, False)
    assert "pw" not in repr(given)


@pytest.mark.parametrize("url", ["http://broker:1883", "mqtt://", "mqtt://broker:notaport", "broker:1883"])
def test_a_bad_mqtt_url_gets_one_line(tmp_path, monkeypatch, url):
    from tests.test_cli import assert_one_line, enerlectra

    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MQTT_URL", url)
    assert_one_line(*enerlectra("serve", "--workers", "1", "--port", str(free_port())), 1, "MQTT_URL")
