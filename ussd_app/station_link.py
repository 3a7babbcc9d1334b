"""The station link: our MQTT client of the stations' broker (protocols.md s.12; DESIGN.md "the station link").

The subscriber takes enx/v1/st/+/status (QoS 1), +/hb (QoS 0) and +/evt (QoS 1), checks every message
(enerlectra.domain.stations.wire) and applies it in a unit of work of its own. A bad message (not JSON, a
wrong sid or version, a field of the wrong type) or one from a station we do not know is dropped with one
WARNING line per station and reason every DROP_LOG_SECONDS, naming the topic and the reason only (never the
payload). Nothing a station sends can stop the loop. Every TICK_SECONDS it sweeps: pending ejects with no
result become unknown and their stations are asked for `inventory`; silent stations go offline.

Exactly one subscriber runs per deployment (`serve --workers N`: a process of its own, see
ussd_app/processes.py and cli._serve); every web process holds a publisher-only link for its ejects.
Commands go out at QoS 1 to enx/v1/st/{sid}/cmd. The link reconnects by looping `async with client:` and
subscribes again each time.

The subscriber's session is persistent: one client id that stays (STATION_LINK_CLIENT_ID, "enerlectra-link")
and clean_session off, so the broker keeps its subscriptions while it is down and queues what they match at
QoS 1 -- events and status -- and hands them over on reconnect (heartbeats are QoS 0: a stale inventory is not
wanted, the next one comes within a minute). A return the link hears late is billed at the station's time,
not ours (its ts), so an outage of ours costs the renter nothing. Events are applied once per evt_id, so a
redelivery changes nothing. Publishers keep an id of their own and a clean session (a second client with the
subscriber's id would take its session over: the broker drops the first).

The subscriber acknowledges a QoS 1 message (PUBACK) only once it is done with it: applied and committed, a
duplicate, or dropped as bad or foreign (so a poison message is not handed back for ever). Left to itself,
paho (under aiomqtt) acknowledges as a message arrives, and a link that died before applying it lost it for
good (a return then billed later, at a heartbeat's time). A message that failed otherwise (the database
down, a bug) is not acknowledged: the link reconnects and the broker hands it over again, at most
FAILED_ATTEMPTS times, then it is dropped and acknowledged with an ERROR line.

Every message's topic is checked against our filters first: amqtt 0.12 sends a client that connects retained
messages of topics it never subscribed to (enerlectra/embedded_mqtt.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
import uuid
from datetime import datetime
from urllib.parse import unquote, urlsplit

import aiomqtt
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra import clock
from enerlectra.db.models import EjectRequest
from enerlectra.domain.stations import ejects, events, inventory, places, wire
from enerlectra.domain.stations.hooks import NO_HOOKS, StationHooks
from enerlectra.domain.work import unit_of_work
from enerlectra.settings import Settings

log = logging.getLogger("enerlectra.stations")
FAILED = "failed: hand it over again"       # handle's answer for that (no outcome of applying one reads so)

TICK_SECONDS = 5.0
DROP_LOG_SECONDS = 300.0
RECONNECT_SECONDS = (1, 2, 5, 10, 30)     # waits between attempts, the last one repeated
FAILED_ATTEMPTS = 3                       # a message that failed this often is dropped (and acknowledged)


class LinkDown(ConnectionError):
    """Not connected to the broker: the command was not published."""


class HandBack(aiomqtt.MqttError):
    """A message failed (not for what it says): reconnect, so the broker hands it over again."""


def check_url(url: str) -> None:
    """ValueError unless `url` is mqtt://[user:pass@]host[:port] or mqtts://... (serve says so in one line)."""
    try:
        parts = urlsplit(url)
        parts.port                                  # noqa: B018 -- raises ValueError for a port that is not one
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("MQTT_URL: mqtt://[user:pass@]host[:port] or mqtts://...")


def client_for(url: str, identifier: str, **kwargs) -> aiomqtt.Client:
    """An aiomqtt client for mqtt://user:pass@host:port (mqtts:// for TLS)."""
    check_url(url)
    parts = urlsplit(url)
    tls = ssl.create_default_context() if parts.scheme == "mqtts" else None
    return aiomqtt.Client(parts.hostname, parts.port or (8883 if tls else 1883), identifier=identifier,
                          username=unquote(parts.username) if parts.username else None,
                          password=unquote(parts.password) if parts.password else None, tls_context=tls,
                          **kwargs)


def quiet_socket_races(loop: asyncio.AbstractEventLoop) -> None:
    """aiomqtt hands paho's socket to the loop with call_soon_threadsafe(loop.add_writer, fd, ...): when the
    connection failed or closed first (a broker not up yet, serve stopping), the fd is gone when that runs and
    the loop logged a traceback for a harmless race. That case becomes one WARNING line; anything else goes to
    the handler there was. Installed once per loop."""
    previous = loop.get_exception_handler()
    if getattr(previous, "quiet_socket_races", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        handle = repr(context.get("handle", ""))
        if isinstance(context.get("exception"), (KeyError, ValueError, OSError)) and (
                "add_writer" in handle or "add_reader" in handle):
            log.warning("station link: a socket closed before the loop could watch it (%s)",
                        type(context["exception"]).__name__)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiet_socket_races = True
    loop.set_exception_handler(handler)


class DropLog:
    """One WARNING per (station, reason) per window, with how many were dropped since the last one."""

    def __init__(self, window: float = DROP_LOG_SECONDS):
        self.window, self.last, self.count = window, {}, {}

    def __call__(self, topic: str, reason: str) -> None:
        key = (topic.rsplit("/", 1)[0], reason)
        self.count[key] = self.count.get(key, 0) + 1
        t = time.monotonic()
        if key in self.last and t - self.last[key] < self.window:
            return
        self.last[key] = t
        log.warning("station link: dropped a message on %s: %s (%d since the last such line)", topic[:80], reason,
                    self.count.pop(key))


class StationLink:
    def __init__(self, settings: Settings, db: async_sessionmaker, hooks: StationHooks = NO_HOOKS,
                 subscribe: bool = True, tick_seconds: float = TICK_SECONDS):
        if not settings.mqtt_url:
            raise ValueError("the station link needs MQTT_URL (serve starts an embedded broker when unset)")
        check_url(settings.mqtt_url)
        self.url, self.db, self.hooks, self.subscribe = settings.mqtt_url, db, hooks, subscribe
        self.rules = ejects.Rules.from_settings(settings)
        self.tick_seconds = tick_seconds
        if subscribe:           # the one subscriber: the same id each start, so the broker keeps its session
            self.identifier, self.clean_session = settings.station_link_client_id, False
        else:                   # publishers come and go with web processes: nothing kept for them
            self.identifier, self.clean_session = f"enerlectra-pub-{os.getpid()}-{uuid.uuid4().hex[:8]}", True
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.dropped = DropLog()
        self.failures: dict[tuple[str, bytes], int] = {}     # (topic, payload) -> failed attempts, this process

    # -- the connection --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until cancelled; reconnect after any broker or network failure."""
        quiet_socket_races(asyncio.get_running_loop())
        attempt = 0
        while True:
            wait = RECONNECT_SECONDS[0]
            try:
                async with client_for(self.url, self.identifier, keepalive=30,
                                      clean_session=self.clean_session) as client:
                    # aiomqtt 2.5 has no option for it: its paho client (private `_client`) acknowledges only
                    # when told (`_listen`). A new Client per connection, so no mid of an earlier one is acked.
                    client._client.manual_ack_set(self.subscribe)
                    self.client, attempt = client, 0
                    if self.subscribe:
                        for topic, qos in wire.SUBSCRIPTIONS:
                            await client.subscribe(topic, qos=qos)
                    self.connected.set()
                    log.info("station link connected (%s)", "subscriber" if self.subscribe else "publisher")
                    await (self._listen(client) if self.subscribe else asyncio.Event().wait())
            except aiomqtt.MqttError as exc:
                wait = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                # One miss is routine (serve's web processes start before the broker's process): INFO; then WARNING
                log.log(logging.WARNING if attempt else logging.INFO,
                        "station link: broker unreachable or lost (%s); again in %s s%s", exc, wait,
                        self._hint() if self.client is not None else "")
                attempt += 1
            finally:
                self.connected.clear()
                self.client = None
            await asyncio.sleep(wait)

    def _hint(self) -> str:
        """Said when a connection is lost: another client with our id is one reason a broker drops us."""
        if not self.subscribe:
            return ""
        return (f" (client id {self.identifier}: a second serve on this broker with the same "
                f"STATION_LINK_CLIENT_ID takes the session over each time it connects)")

    async def _listen(self, client: aiomqtt.Client) -> None:
        ticker = asyncio.create_task(self._tick_forever())
        try:
            async for message in client.messages:
                if await self.handle(str(message.topic), message.payload) == FAILED:
                    raise HandBack("a message failed: reconnecting to have it again")
                # after the commit (or the drop): a link that dies before this gets the message again
                client._client.ack(message.mid, message.qos)
        finally:
            ticker.cancel()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick(clock.now())
            except Exception as exc:          # noqa: BLE001 -- a database hiccup: the next tick tries again
                log.error("station link: sweep failed (%s: %s)", type(exc).__name__, exc)

    # -- what stations send ----------------------------------------------------------------------------

    async def handle(self, topic: str, payload: bytes | bytearray | str | None) -> str | None:
        """Apply one message; what it did, None for a dropped one, FAILED for one to be handed over again.
        Never raises (but cancellation)."""
        if not any(aiomqtt.Topic(topic).matches(f) for f, _ in wire.SUBSCRIPTIONS):
            return None                      # amqtt's foreign retained messages
        raw = payload.encode() if isinstance(payload, str) else bytes(payload or b"")
        try:
            msg = wire.parse(topic, raw)
            async with unit_of_work(self.db) as s:
                done = str(await self._apply(s, msg, clock.now()))
            self.failures.pop((topic, raw), None)
            return done
        except wire.BadMessage as exc:
            self.dropped(topic, str(exc))
        except places.UnknownStation:
            self.dropped(topic, "no station has this code (enerlectra stations add)")
        except Exception as exc:             # noqa: BLE001 -- the loop must outlive any one message
            tries = self.failures[(topic, raw)] = self.failures.get((topic, raw), 0) + 1
            if tries < FAILED_ATTEMPTS:
                log.error("station link: a message on %s failed (%s); it is asked again", topic[:80],
                          type(exc).__name__)
                return FAILED
            self.failures.pop((topic, raw))
            log.error("station link: a message on %s failed %d times (%s); dropped", topic[:80], tries,
                      type(exc).__name__)
        return None

    async def _apply(self, s, msg: wire.Message, now: datetime):
        if msg.kind == "hb":
            return await inventory.apply_heartbeat(s, msg, now, self.hooks)
        if msg.kind == "status":
            return await inventory.apply_status(s, msg, now)
        return await events.apply_event(s, msg, now, self.hooks)

    async def tick(self, now: datetime) -> list[str]:
        """The sweeps; asks each station with a request gone unknown for its inventory. Those stations."""
        async with unit_of_work(self.db) as s:
            asked = await ejects.sweep_unknown(s, self.rules, now)
            await inventory.sweep_offline(s, self.rules, now)
        for code in asked:
            try:
                await self.publish(wire.topic_of(code, "cmd"),
                                   wire.command("inventory", req_id=wire.new_req_id(), issued_at=int(now.timestamp())))
            except LinkDown:
                log.warning("station link: inventory for %s not asked (not connected); its next heartbeat decides",
                            code)
        return asked

    # -- what we send ----------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes) -> None:
        client = self.client
        if client is None or not self.connected.is_set():
            raise LinkDown(topic)
        try:
            await client.publish(topic, payload, qos=1, timeout=5)
        except aiomqtt.MqttError as exc:
            raise LinkDown(topic) from exc

    async def eject(self, code: str, rental_ref: str | None = None) -> EjectRequest:
        """Store an eject request (ejects.request_eject: it raises the refusals), then publish it. A publish
        that fails leaves the request pending: it goes unknown and the inventory decides, as for a lost result."""
        async with unit_of_work(self.db) as s:
            req, command = await ejects.request_eject(s, code, self.rules, clock.now(), rental_ref)
        try:
            await self.publish(command.topic, command.payload)
        except LinkDown:
            log.warning("station link: eject %s for %s not published (not connected); it will go unknown and the "
                        "inventory decides", req.req_id, code)
        return req
