"""The embedded MQTT broker: amqtt on loopback, for when MQTT_URL is unset (protocols.md s.12).

Production points MQTT_URL at Mosquitto. amqtt speaks MQTT 3.1.1 only (aiomqtt <3 talks to it) and its own
default config binds 0.0.0.0 with anonymous access, so we always pass ours: loopback, one listener, anonymous
(only processes on this machine can reach it), no $SYS chatter, no per-packet logging.

Known amqtt 0.12 quirk: a client that connects is sent the retained messages of every topic filter anyone has
subscribed to, not only its own. Every client of ours (the station link, the fake fleet) checks the topic of
each message it gets and ignores the rest; Mosquitto never sends them.

Known amqtt 0.12.1 bug, worked around here: it walks its subscription table with awaits inside (those retained
messages, for each client that connects), so a subscription made by another client meanwhile raised
"dictionary changed size during iteration" and left the connecting client with a CONNACK but never served
(a station that boots beside others hung). Our broker walks a snapshot of the table instead.

Known amqtt 0.12 limit, worked around here: its anonymous plugin marks every session anonymous, and for an
anonymous session it neither queues QoS 1 messages while the client is away nor keeps the session (nor its
subscriptions) after a disconnect, whatever clean_session said. The station link's persistent session
(ussd_app/station_link.py) would lose what stations send while it is down, so our plugin lets everyone in
(the listener is loopback only) without that mark. A client that asks for a clean session (every one but the
station link) still gets one. Such a session's QoS 1 messages are kept until acknowledged and sent again on
reconnect: enerlectra/embedded_mqtt_acks.py.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from amqtt.broker import Broker
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.authentication import AnonymousAuthPlugin
from amqtt.session import Session

from enerlectra.embedded_mqtt_acks import KeptUntilAcked, background

MAX_CONNECTIONS = 5000          # stations and our own clients on one loopback listener


class SnapshotTable(dict):
    """amqtt's subscription table, walked over a copy: a subscription added during a walk waits for the next."""

    def __iter__(self):
        return iter(list(dict.keys(self)))

    def keys(self):
        return list(dict.keys(self))

    def items(self):
        return list(dict.items(self))


class SafeBroker(Broker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._subscriptions = SnapshotTable(self._subscriptions)

    async def _handle_client_session(self, reader, writer, client_session, handler, *args) -> None:
        if type(handler) is BrokerProtocolHandler:      # amqtt builds it by name: ours takes over its messages
            handler.__class__ = KeptUntilAcked
        await super()._handle_client_session(reader, writer, client_session, handler, *args)

    # Sent, not waited for (embedded_mqtt_acks.py): what was queued while the client was away, and the retained
    # messages a SUBSCRIBE matched (amqtt served the client's next SUBSCRIBE only once those were acknowledged)
    async def _publish_session_retained_messages(self, session: Session) -> None:
        background(super()._publish_session_retained_messages(session))

    async def _publish_retained_messages_for_subscription(self, subscription, session: Session) -> None:
        background(super()._publish_retained_messages_for_subscription(subscription, session))


class LoopbackAuth(AnonymousAuthPlugin):
    """Everyone in, and a session that asked to be kept (clean_session off) is kept, with its QoS 1 queue."""

    async def authenticate(self, *, session: Session) -> bool:
        allowed = await super().authenticate(session=session)
        session.is_anonymous = False
        return bool(allowed)


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": MAX_CONNECTIONS}},
        "plugins": {"enerlectra.embedded_mqtt.LoopbackAuth": {"allow_anonymous": True}},
    }


@asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[str]:
    """Run a broker on host:port while the block runs; yields its mqtt:// URL."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the embedded MQTT broker listens on loopback only; set MQTT_URL for anything else")
    for name in ("amqtt", "transitions"):        # amqtt logs every connect at INFO and its machines at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = SafeBroker(broker_config(host, port))
    await broker.start()
    try:
        yield f"mqtt://{host}:{port}"
    finally:
        await broker.shutdown()


async def _serve(port: int) -> None:
    import asyncio
    async with embedded_broker("127.0.0.1", port):
        print(f"mqtt://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":      # python -m enerlectra.embedded_mqtt PORT: a broker in a process of its own (tests)
    import asyncio
    import sys
    try:
        asyncio.run(_serve(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
