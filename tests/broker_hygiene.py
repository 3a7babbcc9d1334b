"""The tests' MQTT broker is shared by the session, and a station's retained status outlives its test. Left
there, every later link that subscribes is handed all of them (well over a hundred by the end of a run) ahead
of its own station's events, one database lookup each that finds no station (the one lead in a CI run where a
rental test's link never saw an eject result within 15 s). So each test that used the broker clears the retained statuses that
were not there when the session began (conftest's `clear_retained_statuses`): only what tests created.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import uuid

from ussd_app.station_link import client_for

STATUS = "enx/v1/st/+/status"
SWEEP_SECONDS = 10.0


async def _retained_statuses(url: str) -> set[str]:
    """The status topics holding a retained message now. A sentinel published after the subscription comes
    after the retained messages it brought (one ordered queue per client), so no quiet period is guessed."""
    sentinel = f"enerlectra-test/sentinel/{uuid.uuid4().hex}"
    found: set[str] = set()
    async with client_for(url, f"test-sweep-{uuid.uuid4().hex[:12]}", clean_session=True) as client:
        await client.subscribe(STATUS, qos=1)
        await client.subscribe(sentinel, qos=1)
        await client.publish(sentinel, b"end", qos=1)
        async with asyncio.timeout(SWEEP_SECONDS):
            async for message in client.messages:
                if message.topic.matches(sentinel):
                    break
                # amqtt also hands a new client retained messages of topics it never subscribed to
                if message.retain and message.payload and message.topic.matches(STATUS):
                    found.add(str(message.topic))
    return found


async def _clear(url: str, topics: set[str]) -> None:
    async with client_for(url, f"test-sweep-{uuid.uuid4().hex[:12]}", clean_session=True) as client:
        for topic in sorted(topics):
            await client.publish(topic, b"", qos=1, retain=True)     # an empty retained message deletes it


def in_a_loop_of_its_own(coro):
    """Run `coro` to its end on a loop of its own, from sync code (a fixture's teardown)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:       # whatever the calling test's loop is doing
        return pool.submit(asyncio.run, coro).result(timeout=3 * SWEEP_SECONDS)


def retained_statuses(url: str) -> set[str]:
    return in_a_loop_of_its_own(_retained_statuses(url))


def clear_new_statuses(url: str, at_start: set[str]) -> set[str]:
    """Clear the retained statuses not in `at_start`; those cleared."""
    new = retained_statuses(url) - at_start
    if new:
        in_a_loop_of_its_own(_clear(url, new))
    return new
