"""Review of the lean wire (enerlectra/redis_wire.py): where it did not do what redis-py's client does."""
from __future__ import annotations

import asyncio
import time

import redis.asyncio
import redis.exceptions

from enerlectra import redis_client, redis_wire
from enerlectra.ports import free_port
from enerlectra.ratelimit import Limiter
from enerlectra.redis_client import async_client, finishing
from tests.test_redis_breaker import _timed as _outcome
from tests.test_redis_breaker import hanging_connects
from tests.test_redis_wire import ECHO

BUSY = "local t = redis.call('TIME'); while true do local n = redis.call('TIME'); " \
       "if (n[1] - t[1]) * 1000000 + n[2] - t[2] > tonumber(ARGV[1]) then return 1 end end"


async def test_calls_that_meet_a_hanging_connect_together_fail_together(monkeypatch):
    """Every call that found no connection queued on one lock and each connected in turn: the n-th call of a
    burst waited n x CONNECT_TIMEOUT (100 hops: 300 s, the aggregator gives 10). redis-py's pool connects each
    command's connection at once: every one fails after one CONNECT_TIMEOUT."""
    monkeypatch.setattr(redis_client, "CONNECT_TIMEOUT", 0.3)
    with hanging_connects() as port:
        client = async_client(f"redis://127.0.0.1:{port}/0")
        try:
            echo = redis_wire.script(client, ECHO)
            outcomes = await asyncio.gather(*(_outcome(echo(keys=["k"], args=[i, 2])) for i in range(6)))
        finally:
            await client.aclose()
    assert {outcome for outcome, _ in outcomes} == {"timeout"}
    assert max(took for _, took in outcomes) < 0.3 * 2.5


async def _answering(reply: bytes):
    async def serve(reader, writer):
        while await reader.read(65536):
            writer.write(reply)
            await writer.drain()
    return await asyncio.start_server(serve, "127.0.0.1", free_port())


async def test_a_redis_loading_its_data_after_a_restart_is_a_connection_error_as_with_redis_py(monkeypatch):
    """Redis answers -LOADING while it reads its dump after a restart. redis-py raises BusyLoadingError, a
    ConnectionError (retried; the hop's apology; rate limits let the request through); the wire raised a bare
    ResponseError, which the Limiter does not catch: a restart turned rate-limited requests into errors."""
    monkeypatch.setattr(redis_client, "RETRIES", 1)
    server = await _answering(b"-LOADING Redis is loading the dataset in memory\r\n")
    url = f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    client, plain = async_client(url), redis.asyncio.Redis.from_url(url)
    try:
        reference = await _outcome(plain.register_script(ECHO)(keys=["k"], args=[1, 2]))
        got = await _outcome(redis_wire.script(client, ECHO)(keys=["k"], args=[1, 2]))
        verdict = await Limiter(client, "test:wire:").hit("webhook_ip", "y", 1, 60)
    finally:
        await client.aclose()
        await plain.aclose()
        server.close()
    assert reference[0] == "refused"
    assert got[0] == "refused"
    assert verdict.ok


async def test_a_timeout_fails_the_late_call_not_a_save_sent_just_before_it(own_redis, monkeypatch):
    """Redis busy for 0.7 s (another client's slow script). The hop's acquire, sent at 0, is late at
    READ_TIMEOUT (0.5); a save under finishing(), sent at 0.4, is answered at 0.7, within its own
    READ_TIMEOUT. redis-py gives the save its answer; the wire failed it with the acquire's timeout and
    dropped its connection (the save may never have been read: money moved, the session not saved, its
    lock held)."""
    monkeypatch.setattr(redis_client, "READ_TIMEOUT", 0.5)
    client = async_client(own_redis.url)
    blocker = redis.asyncio.Redis.from_url(own_redis.url)
    try:
        echo = redis_wire.script(client, ECHO)
        assert await echo(keys=["warm"], args=[1, 2])
        busy = asyncio.ensure_future(blocker.eval(BUSY, 0, 700_000))
        await asyncio.sleep(0.02)
        started = time.monotonic()
        acquire = asyncio.ensure_future(_outcome(echo(keys=["acquire"], args=[1, 2])))
        await asyncio.sleep(0.4)
        with finishing():
            save = await _outcome(echo(keys=["save"], args=[1, 2]))
        assert await busy == 1
    finally:
        await client.aclose()
        await blocker.aclose()
    assert (await acquire)[0] == "timeout"
    assert save[0] == "ok", f"the save failed with {save[0]} {time.monotonic() - started:.2f} s in"
