"""The web app's Redis client fails fast for BREAK_SECONDS after a timeout (enerlectra/redis_client.py).

Against a hung Redis (its process stopped, its socket open) the first command waits READ_TIMEOUT; the ones after
it, for a moment, fail at once without being sent; once the moment is over, a Redis that came back answers."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from typing import Iterator

from enerlectra import redis_client
from enerlectra.ports import free_port
from enerlectra.redis_client import BREAK_SECONDS, READ_TIMEOUT, RedisHung, async_client


async def _timed(call):
    started = time.monotonic()
    try:
        await call
        return "ok", time.monotonic() - started
    except RedisHung:
        return "hung", time.monotonic() - started
    except redis_client.TimeoutError:
        return "timeout", time.monotonic() - started
    except redis_client.ConnectionError:
        return "refused", time.monotonic() - started


async def test_after_one_timeout_commands_fail_at_once_then_try_again(own_redis):
    client = async_client(own_redis.url)
    try:
        assert await client.set("t:breaker", "1")
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        first = await _timed(client.get("t:breaker"))
        during = await asyncio.gather(*(_timed(client.get("t:breaker")) for _ in range(50)))
        pipelined = await _timed(client.pipeline().get("t:breaker").incr("t:breaker:n").execute())
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        still_open = await _timed(client.get("t:breaker"))      # Redis is back, but the moment is not over
        await asyncio.sleep(BREAK_SECONDS)
        after = await _timed(client.get("t:breaker"))
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        await client.delete("t:breaker", "t:breaker:n")
        await client.aclose()
    assert first[0] == "timeout" and first[1] >= READ_TIMEOUT * 0.9
    assert {outcome for outcome, _ in during} == {"hung"}
    assert max(took for _, took in during) < 0.2
    assert pipelined[0] == "hung"
    assert still_open[0] == "hung"
    assert after[0] == "ok"


async def test_commands_waiting_for_a_pooled_connection_fail_once_it_trips(own_redis, monkeypatch):
    # A pool of 2: two commands hold both connections until they time out; the third waited in the pool's queue
    # and, when a connection comes back, finds the breaker open and fails then, not READ_TIMEOUT later.
    monkeypatch.setattr(redis_client, "POOL_SIZE", 2)
    monkeypatch.setattr(redis_client, "POOL_WAIT", READ_TIMEOUT * 2)     # it waits for the pool, not past it
    client = async_client(own_redis.url)
    try:
        assert await client.ping()
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        outcomes = await asyncio.gather(*(_timed(client.get("t:breaker")) for _ in range(3)))
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        await client.aclose()
    assert sorted(outcome for outcome, _ in outcomes) == ["hung", "timeout", "timeout"]
    assert max(took for _, took in outcomes) < READ_TIMEOUT + 0.5


async def test_a_slow_connect_is_not_taken_for_a_hung_redis(monkeypatch):
    # A listener that never accepts, its backlog full: the kernel drops further SYNs, as it does for a
    # loaded healthy Redis (the client sends the SYN again after 1 s, 3 s). Each command waits its own
    # CONNECT_TIMEOUT and fails; none is refused by the breaker for the one before it.
    monkeypatch.setattr(redis_client, "CONNECT_TIMEOUT", 0.3)
    with hanging_connects() as port:
        client = async_client(f"redis://127.0.0.1:{port}/0")
        try:
            outcomes = [await _timed(client.get("t:breaker")) for _ in range(3)]
        finally:
            await client.aclose()
    assert [outcome for outcome, _ in outcomes] == ["timeout"] * 3
    assert min(took for _, took in outcomes) >= 0.3 * 0.9


@contextlib.contextmanager
def hanging_connects() -> Iterator[int]:
    """A port whose connects hang: a listener that never accepts, its backlog full (further SYNs dropped)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = _fill_backlog(port)
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()


def _fill_backlog(port: int) -> list[socket.socket]:
    """Connections until the next one is no longer taken (its SYN dropped): the listener's backlog is full."""
    fillers = []
    while len(fillers) < 16:
        filler = socket.socket()
        filler.settimeout(0.2)
        try:
            filler.connect(("127.0.0.1", port))
        except OSError:
            filler.close()
            return fillers
        fillers.append(filler)
    raise AssertionError("the backlog never filled")
