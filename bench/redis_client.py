"""What one Redis script call costs the web process: our lean wire (enerlectra/redis_wire.py, the hop's two
scripts) and redis-py (our client, the plain one, its connection layer) against the bare wire (RESP written by
hand on an asyncio stream, hiredis reading the answer), same run.

    .venv/bin/python -m bench.redis_client [--calls 20000] [--url redis://127.0.0.1:6379/15]

A hop makes two such calls (the session's load-and-lock script and its save script, ussd_app/engine/store.py),
so the gap between "redis-py, our client" and "our lean wire", times two, is what the lean wire takes off a
hop's CPU (issue 18); the bare wire is its floor. Prints CPU and wall microseconds per call. Without --url it
starts an embedded Redis.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

SCRIPT = "return {1, ARGV[1]}"                           # a script's round trip, not its work
KEYS, ARGS = ["bench:s:lock", "bench:s:s"], ["x" * 300, 30]   # about a session record's size


async def per_call(name: str, call, calls: int) -> None:
    for _ in range(500):                                 # connections made, scripts loaded
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    cpu_us, wall_us = 1e6 * (time.process_time() - cpu) / calls, 1e6 * (time.perf_counter() - wall) / calls
    print(f"{name:28} {cpu_us:7.1f} us CPU {wall_us:7.1f} us wall")


def _resp(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


async def run(url: str, calls: int) -> None:
    import hiredis
    import redis.asyncio

    from enerlectra.redis_client import async_client

    ours, plain = async_client(url), redis.asyncio.Redis.from_url(url)
    ours_script, plain_script = ours.register_script(SCRIPT), plain.register_script(SCRIPT)
    from enerlectra import redis_wire

    lean = redis_wire.script(ours, SCRIPT)                 # what the session store calls (its wire)
    await per_call("our lean wire (the hop's)", lambda: lean(keys=KEYS, args=ARGS), calls)
    await per_call("redis-py, our client", lambda: ours_script(keys=KEYS, args=ARGS), calls)
    await per_call("redis-py, plain client", lambda: plain_script(keys=KEYS, args=ARGS), calls)
    pool = ours.connection_pool

    async def connection_level():
        conn = await pool.get_connection()
        try:
            await conn.send_command("EVALSHA", ours_script.sha, len(KEYS), *KEYS, *ARGS)
            return await conn.read_response()
        finally:
            await pool.release(conn)
    await per_call("redis-py, connection level", connection_level, calls)

    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 6379)
    if parts.password:
        writer.write(_resp("AUTH", parts.password))
    db = (parts.path or "/0").strip("/") or "0"
    writer.write(_resp("SELECT", db))
    await writer.drain()
    parser = hiredis.Reader()

    async def answer():
        while True:
            got = parser.gets()
            if got is not False:
                return got
            parser.feed(await reader.read(65536))
    if parts.password:
        await answer()
    await answer()

    async def bare_wire():
        writer.write(_resp("EVALSHA", ours_script.sha, len(KEYS), *KEYS, *ARGS))
        return await answer()
    await per_call("bare wire (RESP + hiredis)", bare_wire, calls)
    writer.close()
    await ours.aclose()
    await plain.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--url", help="a Redis to use (default: an embedded one)")
    args = parser.parse_args()
    try:
        import uvloop
        new_loop = uvloop.new_event_loop
    except ImportError:
        new_loop = asyncio.new_event_loop
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-redis-") as home:
        from enerlectra.embedded_redis import resolve_redis_url

        url, embedded = resolve_redis_url(args.url, Path(home))
        try:
            with asyncio.Runner(loop_factory=new_loop) as runner:
                runner.run(run(url, args.calls))
        finally:
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
