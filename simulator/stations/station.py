"""One fake station on a real MQTT broker, speaking protocol v1 as a cabinet would (protocols.md s.12).

On connect: `{"online":true}` retained on status (the last will, `{"online":false}` retained QoS 1, says the
opposite if the connection dies without DISCONNECT), a `boot` evt on each start, then a heartbeat with the full
inventory every `heartbeat_seconds`. Commands arrive on its cmd topic; anything on another topic (amqtt 0.12
sends a connecting client foreign retained messages, see enerlectra/embedded_mqtt.py) and any malformed command
is logged and ignored. Commands are handled one at a time, as a cabinet's single controller does.

An eject's result is kept for its req_id (the last 256): a repeat re-publishes that result and never ejects
twice, even across a reboot (a cabinet keeps it in flash).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections import Counter, OrderedDict
from typing import Callable
from urllib.parse import unquote, urlsplit

import aiomqtt

from simulator.stations.cabinet import Bank, Battery, Cabinet, StationFull, check_serial, check_soc
from simulator.stations.faults import Faults
from simulator.stations.protocol import VERSION, check_code, command_problem, topic

log = logging.getLogger("simulator.stations")

REMEMBERED = 256                 # req_ids whose results a station keeps
DEFAULT_PORT = 1883


class StationOffline(Exception):
    """The station is not connected: nothing can be returned to it now."""


def broker_address(url: str) -> tuple[str, int, str | None]:
    """(host, port, password) of mqtt://[user[:password]@]host[:port]. A station's username is its own code;
    a password in the URL is passed on (a test broker's shared one)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"MQTT URL {url!r}: mqtt://host:port")
    return parts.hostname, parts.port or DEFAULT_PORT, unquote(parts.password) if parts.password else None


class FakeStation:
    def __init__(self, code: str, slots: int = 8, *, mqtt_url: str, name: str = "", area: str = "",
                 heartbeat_seconds: float = 60.0, battery: Battery | None = None,
                 clock: Callable[[], float] = time.time, hand: dict[str, Bank] | None = None,
                 keepalive: int = 10, reconnect_seconds: float = 1.0):
        self.sid = check_code(code)
        self.name, self.area = name or f"Station {self.sid}", area
        self.host, self.port, self.password = broker_address(mqtt_url)
        self.heartbeat_seconds, self.keepalive, self.reconnect_seconds = heartbeat_seconds, keepalive, \
            reconnect_seconds
        self.clock = clock
        self.cabinet = Cabinet(slots, battery or Battery(), clock)
        self.faults = Faults()
        self.hand = hand if hand is not None else {}     # banks out of every slot, pb -> Bank (a fleet shares one)
        self.results: OrderedDict[str, bytes] = OrderedDict()   # req_id -> its eject_result as published
        self.ejects: Counter[str] = Counter()            # req_id -> banks it released (never more than 1)
        self.boot_id = ""
        self.boots = 0
        self.seq = 0
        self.online = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task | None = None
        self._crashing = False
        self._refused: aiomqtt.MqttError | None = None     # why the first connection of a boot failed

    # -- life cycle --------------------------------------------------------------------------------------------
    async def start(self, wait: float = 10.0) -> None:
        """Boot: a new boot_id, seq from 1, connect; returns once status, boot and the first hb are out."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"station {self.sid} is already running")
        self.boot_id, self.seq, self._crashing, self._refused = uuid.uuid4().hex[:8], 0, False, None
        self.boots += 1
        self._task = asyncio.create_task(self._run(), name=f"station-{self.sid}")
        online = asyncio.create_task(self.online.wait())
        await asyncio.wait({online, self._task}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if not online.done():
            online.cancel()
            await self._end_task()
            raise self._refused or asyncio.TimeoutError(f"station {self.sid}: no broker answer in {wait:g} s")

    comeback = start                 # after a crash: reconnect with a new boot_id, status and hb

    async def stop(self) -> None:
        """A clean shutdown: status offline (retained), then DISCONNECT (so the broker drops the will)."""
        if self._client is not None and self.online.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await self._status(False)
        await self._end_task()

    async def crash(self) -> None:
        """Lose power: the socket goes without DISCONNECT, so the broker publishes the last will."""
        self._crashing = True
        self._abort_socket()
        if self._task is not None:       # it ends by itself once paho sees the socket gone
            await asyncio.wait({self._task}, timeout=5)
        await self._end_task()

    async def __aenter__(self) -> "FakeStation":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _abort_socket(self) -> None:
        paho = self._client._client if self._client is not None else None      # aiomqtt's paho client
        sock = paho.socket() if paho is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)          # no DISCONNECT can leave after this

    async def _end_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
        self.online.clear()

    async def _run(self) -> None:
        booted = False
        while not self._crashing:
            will = aiomqtt.Will(topic(self.sid, "status"), json.dumps(self._status_body(False)), qos=1, retain=True)
            client = aiomqtt.Client(self.host, self.port, identifier=f"st-{self.sid}", username=self.sid,
                                    password=self.password, will=will, keepalive=self.keepalive)
            beats = None
            try:
                async with client:
                    self._client = client
                    await client.subscribe(topic(self.sid, "cmd"), qos=1)
                    await self._status(True)
                    if not booted:
                        await self.event("boot", boot_id=self.boot_id, slots=self.cabinet.slot_count)
                        booted = True
                    await self.heartbeat()
                    self.online.set()
                    beats = asyncio.create_task(self._heartbeats())
                    await self._commands(client)
            except aiomqtt.MqttError as exc:
                if not booted:              # never connected on this boot: start() says why and gives up
                    self._refused = exc
                    return
                log.info("station %s: connection lost (%s)", self.sid, exc)
            finally:
                self.online.clear()
                self._client = None
                if beats is not None:
                    beats.cancel()
            if not self._crashing:
                await asyncio.sleep(self.reconnect_seconds)     # the same boot: seq goes on

    # -- what goes out --------------------------------------------------------------------------------------------
    def envelope(self) -> dict:
        self.seq += 1
        return {"v": VERSION, "sid": self.sid, "ts": int(self.clock()), "seq": self.seq}

    def _status_body(self, online: bool) -> dict:
        # The will is fixed at connect time, so it carries no ts or seq of its own.
        return {"v": VERSION, "sid": self.sid, "online": online}

    async def _status(self, online: bool) -> None:
        body = {**self.envelope(), "online": True} if online else self._status_body(False)
        await self._client.publish(topic(self.sid, "status"), json.dumps(body), qos=1, retain=True)

    async def heartbeat(self) -> None:
        body = {**self.envelope(), "slots": self.cabinet.inventory()}
        await self._client.publish(topic(self.sid, "hb"), json.dumps(body), qos=0)

    def event_body(self, kind: str, **fields) -> bytes:
        head = self.envelope()
        body = {**head, "type": kind, "evt_id": f"{self.sid}:{self.boot_id}:{head['seq']}", **fields}
        return json.dumps(body).encode()

    async def publish_event(self, payload: bytes) -> None:
        await self._client.publish(topic(self.sid, "evt"), payload, qos=1)

    async def event(self, kind: str, **fields) -> bytes:
        payload = self.event_body(kind, **fields)
        await self.publish_event(payload)
        return payload

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            with contextlib.suppress(aiomqtt.MqttError):
                await self.heartbeat()

    # -- what comes in ---------------------------------------------------------------------------------------------
    async def _commands(self, client: aiomqtt.Client) -> None:
        mine = topic(self.sid, "cmd")
        async for message in client.messages:
            if not message.topic.matches(mine):
                continue                    # amqtt's foreign retained messages
            try:
                command = json.loads(message.payload)
            except (ValueError, TypeError):
                log.warning("station %s: a command that is not JSON, ignored", self.sid)
                continue
            problem = command_problem(command)
            if problem:
                log.warning("station %s: malformed command ignored: %s", self.sid, problem)
                continue
            await self.handle(command)

    async def handle(self, command: dict) -> None:
        kind = command["type"]
        if kind == "eject":
            await self._eject(command)
        elif kind in ("lock_slot", "unlock_slot"):
            slot = self.cabinet.slot(command["slot"])
            if slot is None:
                log.warning("station %s: %s of slot %s, which it does not have", self.sid, kind, command["slot"])
                return
            slot.locked = kind == "lock_slot"
            await self.heartbeat()          # the inventory is the truth: show the lock now
        else:
            await self.heartbeat()          # inventory: a hb now

    async def _eject(self, command: dict) -> None:
        req_id = command["req_id"]
        if req_id in self.results:          # a repeat: the stored result again, never a second eject
            self.results.move_to_end(req_id)
            await self.publish_event(self.results[req_id])
            return
        modes = self.faults.for_eject()
        reason = await self._try_eject(command, modes)
        payload = self.event_body("eject_result", req_id=req_id, ok=reason is None, slot=command["slot"],
                                  pb=command["pb"], reason=reason)
        self.results[req_id] = payload
        while len(self.results) > REMEMBERED:
            self.results.popitem(last=False)
        if "offline" in modes:
            self._crashing = True
            self._abort_socket()            # powered off before it could report
            return
        if "lost_result" in modes:
            return
        for _ in range(2 if "duplicate_result" in modes else 1):
            await self.publish_event(payload)

    async def _try_eject(self, command: dict, modes: dict[str, float]) -> str | None:
        """Release the bank, or the reason it was not released."""
        if self.clock() > command["expires_at"]:
            return "expired"
        if modes.get("slow"):
            await asyncio.sleep(modes["slow"])
        n, pb = command["slot"], command["pb"]
        reason = self.cabinet.refusal(n, pb)
        if reason is None and "lock_fault" in modes:
            self.cabinet.slot(n).fault = reason = "lock_motor"
            await self.event("fault", slot=n, code="lock_motor", detail=f"lock motor of slot {n} did not turn")
        elif reason is None and "not_popped" in modes:
            reason = "not_popped"
        if reason is None:
            self.hand[pb] = self.cabinet.release(n)
            self.ejects[command["req_id"]] += 1
        return reason

    # -- what a user does at the cabinet ---------------------------------------------------------------------------
    async def return_bank(self, pb: str, soc: int | None = None) -> int:
        """Put a bank into the first free slot and report it (evt return); its slot number.
        StationFull (bank stays in the hand) or StationOffline when it cannot take it."""
        check_serial(pb)
        if soc is not None:
            check_soc(soc)
        if not self.online.is_set():
            raise StationOffline(f"station {self.sid} is offline: it cannot take {pb} now")
        if self.cabinet.holds(pb):
            raise ValueError(f"{pb} is already in a slot of station {self.sid}")
        bank = self.hand.pop(pb, None) or Bank(pb, 50 if soc is None else soc, self.clock(), charging=False)
        try:
            n = self.cabinet.take_back(bank, soc)
        except StationFull:
            self.hand[pb] = bank
            raise StationFull(f"station {self.sid} is full: no free slot for {pb}") from None
        await self.event("return", slot=n, pb=pb, soc=bank.soc, ok=True)
        return n

    def clear_fault(self, n: int) -> None:
        """Maintenance fixed slot n."""
        self.cabinet.slots[n - 1].fault = None
