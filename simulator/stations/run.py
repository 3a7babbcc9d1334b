"""`enerlectra sim fleet`: a fake station fleet on a broker until Ctrl-C.

The broker: --mqtt, else MQTT_URL, else an embedded amqtt broker started here on a free loopback port (its URL
is printed: point `serve` at it with MQTT_URL). Stations: --file YAML (see fleet.yaml beside this file), else
--stations N with --slots M each, codes from 4001.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import aiomqtt

from enerlectra.embedded_mqtt import embedded_broker
from enerlectra.ports import free_port
from enerlectra.redact import redact_url
from simulator.stations.fleet import Fleet, specs_from_args, specs_from_yaml
from simulator.stations.station import broker_address

SHOWN = 20             # stations listed on start; a big fleet is summed up


async def run_fleet(stations: int, slots: int, mqtt_url: str | None = None, file: str | None = None,
                    heartbeat_seconds: float = 60.0, until: asyncio.Event | None = None, out=print) -> int:
    specs = specs_from_yaml(file) if file else specs_from_args(stations, slots)
    url = mqtt_url or os.environ.get("MQTT_URL")
    async with contextlib.AsyncExitStack() as stack:
        if url:
            broker_address(url)                  # a bad URL is refused before anything starts
        else:
            url = await stack.enter_async_context(embedded_broker("127.0.0.1", free_port()))
            out(f"embedded MQTT broker: {url} (start `serve` with MQTT_URL={url})")
        fleet = Fleet(specs, url, heartbeat_seconds=heartbeat_seconds)
        try:
            await stack.enter_async_context(fleet)
        except (aiomqtt.MqttError, asyncio.TimeoutError) as exc:
            await fleet.stop()
            print(f"enerlectra: MQTT broker {redact_url(url)}: {exc or 'no answer'}", file=sys.stderr)
            return 1
        out(f"fake station fleet: {len(specs)} stations on {redact_url(url)}; Ctrl-C stops it")
        for spec in specs[:SHOWN]:
            out(f"  {spec.code}  {spec.name} ({spec.area or 'no area'}): {spec.slots} slots, {spec.banks} banks")
        if len(specs) > SHOWN:
            out(f"  ... and {len(specs) - SHOWN} more")
        await (until or asyncio.Event()).wait()
    return 0
