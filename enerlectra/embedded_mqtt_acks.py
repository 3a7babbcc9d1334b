"""The embedded broker's QoS 1 delivery to a kept session: a message is the client's only once it acknowledged it.

Known amqtt 0.12.1 limit, worked around here: it waits 5 s for a subscriber's PUBACK, then forgets the message,
and forgets it too when the client disconnects first; nothing is sent again on reconnect. The station link
acknowledges an event only after applying it (ussd_app/station_link.py), so one that took longer or whose link
died in between was lost. For a session that is kept (clean_session off: the station link's) the message
stays in the session until acknowledged and is sent again (DUP) when the client is back, as Mosquitto does.
What is sent again on reconnect (or retained, on a SUBSCRIBE) is not waited for before the client's own packets (its
SUBSCRIBE) are served: the link subscribes before it applies anything, and would wait for a SUBACK that waited
for it.
"""
from __future__ import annotations

import asyncio

from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.protocol.handler import OUTGOING
from amqtt.mqtt.puback import PubackPacket


class KeptUntilAcked(BrokerProtocolHandler):
    """A handler whose QoS 1 messages to a kept session leave it only with their PUBACK."""

    def _kept(self, app_message) -> bool:
        return (app_message.direction == OUTGOING and app_message.qos == QOS_1 and self.session is not None
                and not self.session.clean_session)

    async def _handle_qos1_message_flow(self, app_message) -> None:
        if not self._kept(app_message):
            return await super()._handle_qos1_message_flow(app_message)
        self.session.inflight_out[app_message.packet_id] = app_message
        packet = app_message.build_publish_packet(dup=app_message.publish_packet is not None)
        await self._send_packet(packet)
        app_message.publish_packet = packet
        waiter: asyncio.Future[PubackPacket] = asyncio.get_running_loop().create_future()
        self._puback_waiters[app_message.packet_id] = waiter
        try:
            app_message.puback_packet = await waiter     # no time limit; cancelled: the client is gone, kept
        finally:
            self._puback_waiters.pop(app_message.packet_id, None)
        self.session.inflight_out.pop(app_message.packet_id, None)
        return None

    async def handle_puback(self, puback: PubackPacket) -> None:
        packet_id = puback.variable_header.packet_id if puback.variable_header else None
        if packet_id not in self._puback_waiters and self.session is not None:
            self.session.inflight_out.pop(packet_id, None)   # its wait was given up (a retry's 10 s): done now
            return
        await super().handle_puback(puback)

    async def _retry_deliveries(self) -> None:
        background(super()._retry_deliveries())


_running: set[asyncio.Future] = set()       # held so the loop does not collect them mid-way


def background(work) -> None:
    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(_running.discard)
