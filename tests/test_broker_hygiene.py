"""The tests' broker keeps no retained status a test left (tests/broker_hygiene.py): a later link would be
handed them all ahead of its own station's events. On the embedded broker and on Mosquitto (TEST_MQTT_URL)."""
from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlsplit

import aiomqtt

from tests import broker_hygiene
from tests.conftest import random_station_code


async def _retain(url: str, topics: list[str]) -> None:
    parts = urlsplit(url)
    async with aiomqtt.Client(parts.hostname, parts.port, identifier=f"test-{uuid.uuid4().hex[:12]}") as c:
        for topic in topics:
            await c.publish(topic, json.dumps({"online": True}), qos=1, retain=True)


def test_the_sweep_clears_what_was_not_there_at_the_start_and_keeps_the_rest(mqtt_url):
    kept, left = (f"enx/v1/st/{random_station_code()}/status" for _ in range(2))
    asyncio.run(_retain(mqtt_url, [kept, left]))
    before = broker_hygiene.retained_statuses(mqtt_url)
    assert {kept, left} <= before

    cleared = broker_hygiene.clear_new_statuses(mqtt_url, before - {left})

    assert cleared == {left}
    after = broker_hygiene.retained_statuses(mqtt_url)
    assert kept in after and left not in after      # `kept` goes at this test's own teardown
