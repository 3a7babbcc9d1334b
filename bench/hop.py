"""Hop benchmark: USSD hops over HTTP through the full path, against a bare aiohttp handler, same run.

    .venv/bin/python -m bench.hop --hops 3000 --concurrency 16 --users 50 [--check]

Both servers run in their own process (uvloop when installed, for both) on embedded defaults (the full
one: embedded Redis, SQLite, registered users with energy to sell); this process is the load generator.
Two clients drive both servers with two walks each:
- the aiohttp client (`--concurrency` sessions sharing one connector);
- a cheap client: one keep-alive TCP stream per simulated user (`--users`), a hand-written HTTP/1.1 POST
  with Content-Length, the answer read by its Content-Length. The aiohttp client costs more CPU than our
  server's hop does, on the same cores: this one shows more of the server.
Walks: `wallet` (main -> Wallet -> History -> back -> Send -> back -> home -> Wallet -> home) and `trade`
(main -> Trade -> Sell -> kWh -> price, the walk issue 18 names).
Prints hops/s, p50 and p99 per server, client and walk, the ratios full/bare, and the Redis bytes one live
session holds. `--check` exits 1 when the wallet walk is below 0.40x bare with the aiohttp client or 0.12x
with the cheap one, or a session holds more than 600 bytes (a benchmark: run by hand, never in CI).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from simulator.http1 import Connection

WALKS = {
    "wallet": ["1", "1", "0", "2", "0", "00", "1", "00"],
    "trade": ["5", "1", "2", "1.50"],          # main -> Trade -> Sell -> 2 kWh -> K1.50 (the expiry screen)
}
USERS = 64
ENERGY_WH = 10_000_000                         # each bench user has energy to sell
TARGETS = {"aiohttp": 0.40, "cheap": 0.12}     # full/bare, wallet walk (issue 18)
MAX_SESSION_BYTES = 600
PATH = "/ussd/africastalking"


def _port() -> int:
    from enerlectra.ports import free_port
    return free_port()


def _loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (both servers and the generator use the same kind of loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve_bare(port: int) -> None:
    from aiohttp import web

    async def hop(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text="CON hi", content_type="text/plain")

    app = web.Application()
    app.router.add_post(PATH, hop)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=_loop())


def serve_full(port: int, home: str) -> None:
    import logging

    from aiohttp import web

    from enerlectra.db.migrate import upgrade
    from enerlectra.domain import ledger, users, wallet
    from enerlectra.domain.phone import parse_msisdn
    from enerlectra.domain.pin_code import hash_user_pin
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
            user = await users.register(app[appkeys.DB], parse_msisdn(_msisdn(n)), f"User{n}", "en",
                                        hash_user_pin("4826", 16))
            await wallet.credit(app[appkeys.DB], f"bench:energy:{n}", user, ledger.ENERGY, ENERGY_WH, "bench")
        yield

    app = create_app(settings)
    app.cleanup_ctx.append(seed)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=_loop())


def _msisdn(n: int) -> str:
    return f"+2609710{n % USERS:05d}"


async def _wait_up(url: str, timeout: float = 60) -> None:
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


def _sessions(w: int, walk: list[str]):
    """Worker w's hops, forever: (form, is the last of its session)."""
    session_no = 0
    while True:
        session_no += 1
        sid, inputs = f"bench-{w}-{session_no}-{time.monotonic_ns()}", []
        msisdn = _msisdn(w * 7 + session_no)
        for step in [None] + walk:
            if step is not None:
                inputs.append(step)
            yield {"sessionId": sid, "phoneNumber": msisdn, "serviceCode": "*123#", "networkCode": "64501",
                   "text": "*".join(inputs)}


def _checked(status: int, body: str) -> None:
    if status != 200 or not body.startswith(("CON", "END")):
        raise RuntimeError(f"bad reply {status}: {body!r}")


async def drive_aiohttp(url: str, hops: int, concurrency: int, walk: list[str]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = hops

    async def worker(w: int, client: aiohttp.ClientSession) -> None:
        nonlocal remaining
        for form in _sessions(w, walk):
            if remaining <= 0:
                return
            remaining -= 1
            started = time.perf_counter()
            async with client.post(url, data=form) as resp:
                body = await resp.text()
            latencies.append(time.perf_counter() - started)
            _checked(resp.status, body)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(w, client) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies


async def drive_cheap(url: str, hops: int, users: int, walk: list[str]) -> tuple[float, list[float]]:
    """One keep-alive stream per user, HTTP/1.1 written by hand (`simulator/http1.py`, the one `sim load`
    uses): the least a client can cost."""
    latencies: list[float] = []
    remaining = hops

    async def user(w: int) -> None:
        nonlocal remaining
        conn = Connection(url)
        try:
            for form in _sessions(w, walk):
                if remaining <= 0:
                    return
                remaining -= 1
                body = urlencode(form).encode()
                started = time.perf_counter()
                status, text = await conn.post_form(body)
                latencies.append(time.perf_counter() - started)
                _checked(status, text.decode())
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(user(w) for w in range(users)))
    return time.perf_counter() - started, latencies


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux): what a hop costs the server, whatever else runs here."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def redis_bytes_per_session(home: Path, url: str) -> dict[str, int]:
    """Open one session at a mid-journey screen (Trade -> Sell: the resume pointer is kept too), then ask
    Redis what its keys take: the session's own keys (state and data, the replay cache) and the pointer."""
    import redis.asyncio as aioredis

    redis_url = (home / "redis" / "redis.url").read_text().strip()
    sid, msisdn = "bench-memory", _msisdn(1)
    async with aiohttp.ClientSession() as client:
        for text in ["", "5", "5*1"]:
            async with client.post(url, data={"sessionId": sid, "phoneNumber": msisdn, "text": text}) as resp:
                _checked(resp.status, await resp.text())
    r = aioredis.Redis.from_url(redis_url)
    try:
        own = sum([await r.memory_usage(key) or 0 for key in await r.keys(f"*{{{sid}}}*")])
        resume = sum([await r.memory_usage(key) or 0 for key in await r.keys(f"*resume:{msisdn}")])
    finally:
        await r.aclose()
    return {"session": own, "resume": resume}


def _start(name: str, home: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    cmd = [sys.executable, "-m", "bench.hop", "--serve", name, "--port", str(port), "--home", home]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return subprocess.Popen(cmd, env=env), f"http://127.0.0.1:{port}{PATH}"


async def main_async(args: argparse.Namespace) -> int:
    results: dict[tuple[str, str, str], tuple[float, float, float, float, float]] = {}
    clients = {"aiohttp": lambda url, n, walk: drive_aiohttp(url, n, args.concurrency, walk),
               "cheap": lambda url, n, walk: drive_cheap(url, n, args.users, walk)}
    clients = {name: clients[name] for name in args.clients}
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-") as home:
        servers = {name: _start(name, home) for name in ("bare", "full")}
        try:
            for _proc, url in servers.values():
                await _wait_up(url)
            for client, drive in clients.items():
                for walk in args.walks:
                    for name, (proc, url) in servers.items():     # bare then full, back to back
                        await drive(url, min(300, args.hops), WALKS[walk])          # warm-up
                        cpu = _cpu_seconds(proc.pid)
                        elapsed, lat = await drive(url, args.hops, WALKS[walk])
                        cpu_ms = (_cpu_seconds(proc.pid) - cpu) * 1000 / args.hops
                        results[(client, walk, name)] = (args.hops / elapsed, _pct(lat, 0.5), _pct(lat, 0.99),
                                                         statistics.mean(lat) * 1000, cpu_ms)
            memory = await redis_bytes_per_session(Path(home), servers["full"][1])
        finally:
            for proc, _url in servers.values():
                proc.terminate()
                proc.wait(timeout=20)
    print(f"hops={args.hops} aiohttp concurrency={args.concurrency} cheap users={args.users} "
          f"(servers and client share {os.cpu_count()} cores)")
    print(f"{'client':8} {'walk':7} {'server':6} {'hops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
          f"{'cpu ms/hop':>10}")
    failed = []
    for client in clients:
        for walk in args.walks:
            for name in ("bare", "full"):
                rate, p50, p99, mean, cpu_ms = results[(client, walk, name)]
                print(f"{client:8} {walk:7} {name:6} {rate:9.0f} {p50:8.2f} {p99:8.2f} {mean:8.2f} {cpu_ms:10.3f}")
            bare, full = results[(client, walk, "bare")], results[(client, walk, "full")]
            ratio = full[0] / bare[0]
            target = TARGETS[client] if walk == "wallet" else None
            print(f"{'':8} {walk:7} ratio full/bare: throughput {ratio:.3f}"
                  + (f" (target {target:.2f})" if target else "")
                  + f", p50 {full[1] / bare[1]:.1f}x, p99 {full[2] / bare[2]:.1f}x, "
                  f"server CPU per hop {full[4] / bare[4]:.1f}x")
            if target and ratio < target:
                failed.append(f"{client} {walk}: {ratio:.3f} < {target:.2f}")
    print(f"redis bytes per live session: {memory['session']} (its keys: state+data, replay cache; target "
          f"<= {MAX_SESSION_BYTES}); resume pointer {memory['resume']}")
    if memory["session"] > MAX_SESSION_BYTES:
        failed.append(f"session bytes {memory['session']} > {MAX_SESSION_BYTES}")
    if args.check and failed:
        print("check FAILED: " + "; ".join(failed))
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hops", type=int, default=3000, help="hops per measured run")
    parser.add_argument("--concurrency", type=int, default=16, help="aiohttp client: sessions at once")
    parser.add_argument("--users", type=int, default=50, help="cheap client: users, one stream each")
    parser.add_argument("--walks", nargs="+", choices=list(WALKS), default=list(WALKS))
    parser.add_argument("--clients", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--check", action="store_true", help="exit 1 below the targets of issue 18")
    parser.add_argument("--serve", choices=["bare", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        serve_bare(args.port)
    elif args.serve == "full":
        serve_full(args.port, args.home)
    else:
        loop = _loop()
        try:
            sys.exit(loop.run_until_complete(main_async(args)))
        finally:
            loop.close()


if __name__ == "__main__":
    main()
