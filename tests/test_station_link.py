"""The station link against a real broker (the tests' own: `mqtt_url`), a raw aiomqtt client playing the
cabinet: it sees what a station sends, ejects through it and back, refuses bad messages without stopping,
and marks a station that drops off offline by its last will."""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
import pytest
from sqlalchemy import select

from enerlectra import clock
from enerlectra.db.models import Bank, EjectRequest, Station
from enerlectra.domain.stations import ejects
from enerlectra.embedded_mqtt import embedded_broker
from enerlectra.ports import free_port
from enerlectra.settings import Settings
from tests.conftest import random_station_code
from tests.stations_helpers import Cabinet, serials
from tests.test_embedded_mqtt import STATION_WITH_A_WILL
from ussd_app.station_link import StationLink, client_for


async def until(check, seconds: float = 10.0):
    """Poll `check` (a coroutine function) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


class OnBroker:
    """A cabinet on the broker: publishes as protocol v1 says, reads its cmd topic."""

    def __init__(self, mqtt_url: str, cab: Cabinet):
        parts = urlsplit(mqtt_url)
        self.cab = cab
        self.client = aiomqtt.Client(parts.hostname, parts.port, identifier=f"st-{cab.sid}", username=cab.sid)
        self.commands: asyncio.Queue = asyncio.Queue()

    async def __aenter__(self):
        await self.client.__aenter__()
        await self.client.subscribe(f"enx/v1/st/{self.cab.sid}/cmd", qos=1)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc):
        self.reader.cancel()
        await self.client.__aexit__(*exc)

    async def _read(self):
        async for message in self.client.messages:
            if message.topic.matches(f"enx/v1/st/{self.cab.sid}/cmd"):   # amqtt: others' retained messages too
                await self.commands.put(json.loads(message.payload))

    async def send(self, kind: str, body: dict | bytes, qos: int = 1, retain: bool = False) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body)
        await self.client.publish(f"enx/v1/st/{self.cab.sid}/{kind}", payload, qos=qos, retain=retain)

    async def hb(self) -> None:
        await self.send("hb", self.cab.hb().body, qos=0)

    async def evt(self, type_: str, evt_seq: int | None = None, **body) -> None:
        await self.send("evt", self.cab.evt(type_, evt_seq, **body).body)


async def stocked(world, charged: int = 2) -> Cabinet:
    cab = Cabinet(random_station_code(), 4)
    await world.add(cab.sid, 4)
    for n, serial in enumerate(serials(cab.sid[-3:], charged), start=1):
        cab.banks[n] = (serial, 95)
    return cab


async def row(world, model, *where):
    async with world.db() as s:
        return await s.scalar(select(model).where(*where))


async def online(world, sid: str) -> bool:
    st = await row(world, Station, Station.code == sid)
    return bool(st.online and st.last_heartbeat_at)


async def test_a_rental_eject_and_a_return_through_the_broker(world, link, mqtt_url):
    cab = await stocked(world)
    async with OnBroker(mqtt_url, cab) as st:
        await st.send("status", {"online": True}, retain=True)
        await st.hb()
        assert await until(lambda: online(world, cab.sid))
        req = await link.eject(cab.sid, rental_ref="R-88213")
        command = await asyncio.wait_for(st.commands.get(), 5)
        assert command["type"] == "eject" and command["req_id"] == req.req_id and command["slot"] == 1
        assert command["expires_at"] - command["issued_at"] == link.rules.ttl.total_seconds()
        serial = cab.banks[1][0]
        cab.banks[1] = None
        await st.evt("eject_result", 500, req_id=req.req_id, ok=True, slot=1, pb=serial, reason=None)
        await st.evt("eject_result", 500, req_id=req.req_id, ok=True, slot=1, pb=serial, reason=None)   # again
        assert await until(lambda: row(world, EjectRequest, EjectRequest.state == "ok"))
        await st.evt("return", 501, slot=4, pb=serial, soc=41, ok=True)
        await st.evt("return", 501, slot=4, pb=serial, soc=41, ok=True)
        assert await until(lambda: row(world, Bank, Bank.serial == serial, Bank.slot_n == 4))
        await asyncio.sleep(0.3)
    assert world.hooks.calls == [("ejected", req.req_id), ("returned", serial, cab.sid, 4, 41)]


async def test_no_result_asks_the_inventory_and_the_heartbeat_decides(world, link, mqtt_url):
    cab = await stocked(world)
    async with OnBroker(mqtt_url, cab) as st:
        await st.send("status", {"online": True}, retain=True)
        await st.hb()
        assert await until(lambda: online(world, cab.sid))
        req = await link.eject(cab.sid)
        assert (await asyncio.wait_for(st.commands.get(), 5))["type"] == "eject"     # and never answered
        asked = await asyncio.wait_for(st.commands.get(), 10)
        assert asked["type"] == "inventory"
        assert world.hooks.calls == []
        cab.banks[1] = None                                  # it had popped after all
        await st.hb()
        assert await until(lambda: row(world, EjectRequest, EjectRequest.req_id == req.req_id,
                                       EjectRequest.state == "ok"))
    assert world.hooks.calls == [("ejected", req.req_id)]


async def test_bad_messages_are_dropped_with_one_line_and_never_stop_the_link(world, link, mqtt_url, caplog):
    cab = await stocked(world)
    secret = f"SECRET-{uuid.uuid4().hex}"
    good = cab.hb().body
    async with OnBroker(mqtt_url, cab) as st:
        with caplog.at_level(logging.WARNING, logger="enerlectra.stations"):
            await st.send("hb", f"{{not json {secret}".encode(), qos=1)
            await st.send("hb", f"{{not json {secret}".encode(), qos=1)            # the same again: no new line
            await st.send("hb", {**good, "sid": "9999", "note": secret}, qos=1)
            await st.send("hb", {**good, "v": 2, "note": secret}, qos=1)
            await st.send("evt", {**good, "type": "eject_result", "evt_id": "x", "note": secret}, qos=1)
            await st.send("hb", {**good, "slots": [{"n": 1, "pb": secret, "soc": 300}]}, qos=1)
            await st.send("status", {"online": "yes"})
            await st.send("hb", good, qos=1)
            assert await until(lambda: online(world, cab.sid))
    text = caplog.text
    assert secret not in text
    for reason in ("payload is not JSON", "sid differs", "version is not 1", "evt_id is not", "pb is not",
                   "'online'"):
        assert reason in text, reason
    assert text.count("payload is not JSON") == 1


async def test_a_station_from_nowhere_is_dropped(world, link, mqtt_url, caplog):
    stranger = Cabinet(random_station_code(), 2)
    with caplog.at_level(logging.WARNING, logger="enerlectra.stations"):
        assert await link.handle(f"enx/v1/st/{stranger.sid}/hb", json.dumps(stranger.hb().body)) is None
    assert "no station has this code" in caplog.text
    assert await link.handle("elsewhere/topic", b"{}") is None


async def test_offline_by_last_will_then_back(world, link, mqtt_url):
    cab = await stocked(world)
    parts = urlsplit(mqtt_url)
    station = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STATION_WITH_A_WILL, parts.hostname, str(parts.port), cab.sid,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert await station.stdout.readline() == b"up\n"
        assert await until(lambda: row(world, Station, Station.code == cab.sid, Station.online.is_(True)))
    finally:
        station.kill()                        # power cut: no DISCONNECT, the broker publishes the will
        await station.wait()
    assert await until(lambda: row(world, Station, Station.code == cab.sid, Station.online.is_(False)), 15)
    with pytest.raises(ejects.StationOffline):
        await link.eject(cab.sid)
    async with OnBroker(mqtt_url, cab) as st:
        await st.send("status", {"online": True}, retain=True)
        await st.hb()
        assert await until(lambda: online(world, cab.sid))
        await link.eject(cab.sid)
        assert (await asyncio.wait_for(st.commands.get(), 5))["type"] == "eject"


async def test_the_url_names_host_port_and_credentials():
    found = client_for("mqtt://link:p%40ss@broker.example:1884", "x")
    assert (found._hostname, found._port) == ("broker.example", 1884)
    with pytest.raises(ValueError):
        client_for("http://broker.example", "x")


async def test_an_eject_the_link_cannot_publish_is_stored_and_goes_unknown(world, database, tmp_path):
    url, schema = database
    settings = Settings(home=Path(tmp_path) / "home", database_url=url, database_schema=schema,
                        mqtt_url="mqtt://127.0.0.1:9")
    idle = StationLink(settings, world.db, hooks=world.hooks, subscribe=False)     # never connected
    cab = await stocked(world)
    await world.apply(cab.status(True), at_now(0))
    await world.apply(cab.hb(), at_now(0))
    req = await idle.eject(cab.sid)
    assert (await row(world, EjectRequest, EjectRequest.req_id == req.req_id)).state == "pending"
    assert await idle.tick(at_now(40)) == [cab.sid]          # unknown; the inventory is asked when connected
    assert (await row(world, EjectRequest, EjectRequest.req_id == req.req_id)).state == "unknown"
    assert world.hooks.calls == []


async def test_the_link_comes_back_after_the_broker_restarts(world, database, tmp_path):
    port, cab = free_port(), await stocked(world)
    url, schema = database
    settings = Settings(home=Path(tmp_path) / "home", database_url=url, database_schema=schema,
                        mqtt_url=f"mqtt://127.0.0.1:{port}")
    link = StationLink(settings, world.db, hooks=world.hooks, tick_seconds=0.2)
    task = asyncio.create_task(link.run())
    try:
        async with embedded_broker("127.0.0.1", port):
            await asyncio.wait_for(link.connected.wait(), 10)
        assert await until(lambda: _true(not link.connected.is_set()))
        async with embedded_broker("127.0.0.1", port):
            await asyncio.wait_for(link.connected.wait(), 15)        # looped `async with client:` and subscribed
            async with OnBroker(f"mqtt://127.0.0.1:{port}", cab) as st:
                await st.send("status", {"online": True})
                await st.hb()
                assert await until(lambda: online(world, cab.sid))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value


def at_now(seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)
