"""Item 14: a Redis restart between hops costs no hop (pooled connections are checked and retried)."""
from __future__ import annotations

import asyncio

from tests.helpers import at_form, new_session_id
from ussd_app.app import create_app


async def dial(client, msisdn: str) -> tuple[int, str]:
    resp = await client.post("/ussd/africastalking", data=at_form(new_session_id(), "", msisdn=msisdn))
    return resp.status, await resp.text()


async def test_hops_after_a_redis_restart_succeed(aiohttp_client, settings, own_redis):
    client = await aiohttp_client(create_app(settings.with_(redis_url=own_redis.url)))
    numbers = [f"+26097180{i:04d}" for i in range(12)]
    first = await asyncio.gather(*(dial(client, msisdn) for msisdn in numbers * 10))   # a pool of connections
    assert {status for status, _ in first} == {200}
    own_redis.stop()
    own_redis.start()                                   # same port, empty: every pooled connection is dead
    answers = await asyncio.gather(*(dial(client, msisdn) for msisdn in numbers * 10))
    assert [status for status, _ in answers] == [200] * len(numbers) * 10
    assert all(text.startswith("CON ") for _, text in answers), answers
    health = await client.get("/healthz")
    assert health.status == 200, await health.text()


async def test_more_commands_in_flight_than_pooled_connections_wait_for_one(own_redis, monkeypatch):
    # Each BLPOP holds its connection for 0.3 s: 1.5 times the pool's size at once must all succeed (the extra
    # ones wait for a connection), never fail with "Too many connections". The web app's pool of 200 made
    # this a test of opening 200 connections within POOL_WAIT on a loaded box (CI lost a run to it); the
    # pool's waiting is the same at 20.
    from enerlectra import redis_client
    monkeypatch.setattr(redis_client, "POOL_SIZE", 20)
    client = redis_client.async_client(own_redis.url)
    try:
        waiting = int(redis_client.POOL_SIZE * 1.5)
        results = await asyncio.gather(*(client.blpop([f"t:empty:{i}"], timeout=0.3) for i in range(waiting)))
        assert results == [None] * waiting
        assert client.connection_pool.max_connections == redis_client.POOL_SIZE
    finally:
        await client.aclose()
