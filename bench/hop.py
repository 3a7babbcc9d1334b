"""Hop benchmark: N USSD hops over HTTP through the full path, against a bare aiohttp handler.

    .venv/bin/python -m bench.hop --hops 3000 --concurrency 16

Both servers run in their own process on embedded defaults (the full one: embedded Redis,
SQLite, registered users walking Settings screens); this process is the load generator.
Prints hops/s, p50 and p99 for both, the ratios, and Redis bytes held per live session.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

WALK = ["1", "1", "0", "2", "0", "00", "1", "00"]   # main -> settings -> language -> back ... home
USERS = 64


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_bare(port: int) -> None:
    from aiohttp import web

    async def hop(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text="CON hi", content_type="text/plain")

    app = web.Application()
    app.router.add_post("/ussd/africastalking", hop)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_full(port: int, home: str) -> None:
    import logging

    from aiohttp import web

    from enerlectra.db.migrate import upgrade
    from enerlectra.domain import users
    from enerlectra.domain.phone import parse_msisdn
    from enerlectra.domain.pin_code import hash_pin
    from enerlectra.settings import Settings
    from ussd_app.app import create_app

    logging.basicConfig(level=logging.WARNING)
    # The rate limits stay on (their Redis round trip is part of the hop measured) but high enough that
    # thousands of hops from 64 numbers on one address per minute are never refused.
    settings = Settings(home=Path(home), port=port, rate_webhook_per_ip=10**7,
                        rate_ussd_hops_per_msisdn=10**7, rate_ussd_sessions_per_msisdn=10**7)
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)

    async def seed(app: web.Application):
        from ussd_app import appkeys
        for n in range(USERS):
            await users.register(app[appkeys.DB], parse_msisdn(f"+2609710{n:05d}"), f"User{n}", "en",
                                 hash_pin("4826", 16))
        yield

    app = create_app(settings)
    app.cleanup_ctx.append(seed)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            try:
                async with client.post(url, data={"sessionId": "warm", "phoneNumber": "+260971000000",
                                                  "text": ""}) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def drive(url: str, hops: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = hops

    async def worker(w: int, client: aiohttp.ClientSession) -> None:
        nonlocal remaining
        session_no = 0
        while remaining > 0:
            session_no += 1
            sid, inputs = f"bench-{w}-{session_no}-{time.monotonic_ns()}", []
            msisdn = f"+2609710{(w * 7 + session_no) % USERS:05d}"
            for step in [None] + WALK:
                if remaining <= 0:
                    return
                remaining -= 1
                if step is not None:
                    inputs.append(step)
                form = {"sessionId": sid, "phoneNumber": msisdn, "serviceCode": "*123#",
                        "networkCode": "64501", "text": "*".join(inputs)}
                started = time.perf_counter()
                async with client.post(url, data=form) as resp:
                    body = await resp.text()
                latencies.append(time.perf_counter() - started)
                if resp.status != 200 or not body.startswith(("CON", "END")):
                    raise RuntimeError(f"bad reply {resp.status}: {body!r}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(w, client) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def redis_bytes_per_session(home: Path, url: str) -> int:
    """Open one session, then ask Redis how much its keys take (state+data, replay cache)."""
    import redis.asyncio as aioredis

    redis_url = (home / "redis" / "redis.url").read_text().strip()
    sid = "bench-memory"
    async with aiohttp.ClientSession() as client:
        for text in ["", "1", "1*1"]:
            async with client.post(url, data={"sessionId": sid, "phoneNumber": "+260971000001", "text": text}):
                pass
    r = aioredis.Redis.from_url(redis_url)
    total = 0
    for key in await r.keys(f"*{{{sid}}}*"):
        total += await r.memory_usage(key) or 0
    await r.aclose()
    return total


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-") as home:
        results = {}
        for name in ("bare", "full"):
            port = _port()
            cmd = [sys.executable, "-m", "bench.hop", "--serve", name, "--port", str(port), "--home", home]
            env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
            server = subprocess.Popen(cmd, env=env)
            url = f"http://127.0.0.1:{port}/ussd/africastalking"
            try:
                await _wait_up(url)
                await drive(url, min(300, args.hops), args.concurrency)          # warm-up
                elapsed, lat = await drive(url, args.hops, args.concurrency)
                results[name] = (args.hops / elapsed, _pct(lat, 0.5), _pct(lat, 0.99), statistics.mean(lat) * 1000)
                if name == "full":
                    results["bytes"] = await redis_bytes_per_session(Path(home), url)
            finally:
                server.terminate()
                server.wait(timeout=20)
    bare, full = results["bare"], results["full"]
    print(f"hops={args.hops} concurrency={args.concurrency} (server and client share {os.cpu_count()} cores)")
    print(f"{'':6} {'hops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, (rate, p50, p99, mean) in (("bare", bare), ("full", full)):
        print(f"{name:6} {rate:9.0f} {p50:8.2f} {p99:8.2f} {mean:8.2f}")
    print(f"ratio full/bare: throughput {full[0] / bare[0]:.3f}, p50 {full[1] / bare[1]:.1f}x, "
          f"p99 {full[2] / bare[2]:.1f}x")
    print(f"redis bytes per live session (state+data and replay cache): {results['bytes']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hops", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", choices=["bare", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        serve_bare(args.port)
    elif args.serve == "full":
        serve_full(args.port, args.home)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
