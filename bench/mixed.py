"""Mixed load: USSD users browsing menus, sending money, selling kWh and withdrawing to MTN MoMo at once.

    .venv/bin/python -m bench.mixed --users 50 --seconds 60
    .venv/bin/python -m bench.mixed --users 50 --seconds 60 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

`enerlectra serve` runs in its own process on embedded defaults (embedded Redis and its worker, SQLite under a
temporary ENERLECTRA_HOME, the local mobile-money sandboxes: MTN payouts succeed on their own and call back), or
on PostgreSQL in a schema of its own (dropped at the end). Users are registered with the production PIN cost
and funded first; each then walks journeys one after another, thinking between hops, like people do:
menus (wallet, history, market, settings), send money (PIN), sell kWh (PIN), withdraw (PIN), buy kWh (PIN,
off by default: `--mix`). A money hop is the hop that carries the PIN; every other hop is a menu hop.
After a warm-up (`--warmup`, 5 s: each process's first statements, caches and lazy imports), not timed,
prints requests/s, p50/p99/max of each, errors (a non-200, a screen saying something went wrong, or a journey
that did not end as it should) and `enerlectra ledger verify` once the load stops. `--check` exits 1 when the
targets (money p99 <= 250 ms, menu p99 <= 50 ms, no errors, ledger verified) are missed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

PIN = "4826"
MONEY_EACH = 5_000_000          # K50,000.00 per user: sends and withdrawals never run dry in a bench
ENERGY_EACH = 5_000_000         # 5,000 kWh per user to sell
TARGET_MONEY_P99_MS, TARGET_MENU_P99_MS = 250, 50
SOMETHING_WRONG = ("went wrong", "timed out", "Too many", "locked", "Not enough")


def msisdn(n: int) -> str:
    return f"+26096{n:07d}"        # MTN Zambia: withdrawals go to the MTN MoMo sandbox


# -- journeys: (inputs, what the last screen starts with) ------------------------------------------------------

def menus_walk(rng: random.Random, me: int, users: int) -> tuple[list[str], str | None]:
    return rng.choice([
        (["1", "1"], None),                  # wallet, history
        (["5", "4"], None),                  # trade, market
        (["3", "1"], None),                  # settings, language
        (["1", "1", "0", "0"], None),        # wallet, history, back, back
        (["5", "3"], None),                  # trade, my offers
    ])


def send(rng: random.Random, me: int, users: int) -> tuple[list[str], str | None]:
    to = (me + rng.randrange(1, users)) % users
    return ["1", "2", "0" + msisdn(to)[4:], "1", PIN], "END Sent"


def sell(rng: random.Random, me: int, users: int) -> tuple[list[str], str | None]:
    price = rng.choice(["1.50", "1.60", "1.70", "1.80"])
    return ["5", "1", "0.1", price, "3", PIN], "END "       # listed, or sold at once to a standing bid


def buy(rng: random.Random, me: int, users: int) -> tuple[list[str], str | None]:
    return ["5", "2", "0.1", PIN], "END "


def withdraw(rng: random.Random, me: int, users: int) -> tuple[list[str], str | None]:
    return ["2", "2", "1", PIN], "END Your withdrawal"


JOURNEYS = {"menu": menus_walk, "send": send, "sell": sell, "withdraw": withdraw, "buy": buy}
MONEY = {"send", "sell", "withdraw", "buy"}      # their last hop carries the PIN


@dataclass
class Tally:
    count_from: float = 0.0          # monotonic time: hops that start earlier are the warm-up, not counted
    menu: list[float] = field(default_factory=list)
    money: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    journeys: dict[str, int] = field(default_factory=dict)

    def all_money(self) -> list[float]:
        return [x for values in self.money.values() for x in values]


# -- the server ------------------------------------------------------------------------------------------------

def server_env(home: str, port: int, database_url: str | None, schema: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "ENERLECTRA_DB_SCHEMA", "LEDGER_KEY")}
    env.update(ENERLECTRA_HOME=home, PORT=str(port), HOST="127.0.0.1", LOG_LEVEL="WARNING",
               # One address and a few numbers carry the whole load: the rate limits would refuse it.
               RATE_WEBHOOK_PER_IP="0", RATE_USSD_HOPS_PER_MSISDN="0", RATE_USSD_SESSIONS_PER_MSISDN="0",
               PAYMENT_DAILY_LIMIT_MINOR=str(10**12),
               LEDGER_KEY=secrets.token_hex(32))      # a database server is shared: no key file is generated
    if database_url:
        env["DATABASE_URL"] = database_url
    if schema:
        env["ENERLECTRA_DB_SCHEMA"] = schema
    return env


def seed(env: dict[str, str], users: int) -> None:
    """Migrate, then register and fund every user (run in a child process: alembic runs its own loop)."""
    subprocess.run([sys.executable, "-m", "bench.mixed", "--seed-users", str(users)], env=env, check=True)


def _seed_here(users: int) -> None:
    from enerlectra.db.engine import make_engine, make_sessionmaker
    from enerlectra.db.migrate import upgrade
    from enerlectra.domain import ledger, ledger_key
    from enerlectra.domain import users as users_
    from enerlectra.domain import wallet
    from enerlectra.domain.phone import parse_msisdn
    from enerlectra.domain.pin_code import hash_pin, pin_key
    from enerlectra.settings import Settings

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    ledger.use_key(ledger_key.load(settings))
    upgrade(settings.effective_database_url, schema=settings.database_schema)
    # As a PIN set by USSD is stored: sealed with the PIN key at the production cost (the KDF is part of the hop)
    pin_hash = hash_pin(PIN, settings.pin_kdf_cost, key=pin_key())

    async def run() -> None:
        engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
        db = make_sessionmaker(engine)
        for n in range(users):
            user = await users_.register(db, parse_msisdn(msisdn(n)), f"User{n}", "en", pin_hash)
            await wallet.credit(db, f"bench:money:{n}", user, user.currency, MONEY_EACH, "bench")
            await wallet.credit(db, f"bench:energy:{n}", user, ledger.ENERGY, ENERGY_EACH, "bench")
        await engine.dispose()
    asyncio.run(run())


def serve_bare(port: int) -> None:
    """The same-run baseline: an aiohttp handler that reads the form and answers at once (the machine's floor)."""
    from aiohttp import web

    async def hop(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text="CON ok", content_type="text/plain")

    app = web.Application()
    app.router.add_post("/ussd/africastalking", hop)
    app.router.add_get("/healthz", lambda request: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _wait_up(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"serve exited with {server.returncode}")
            try:
                async with client.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


# -- the load --------------------------------------------------------------------------------------------------

RESUME_OFFER = "Continue where you left off?"     # a journey the load broke off earlier: start again (2)


async def user_loop(client: aiohttp.ClientSession, url: str, me: int, users: int, mix: list[tuple[str, int]],
                    think: tuple[float, float], stop_at: float, tally: Tally, rng: random.Random,
                    bare: bool = False) -> None:
    kinds, weights = [k for k, _ in mix], [w for _, w in mix]
    while time.monotonic() < stop_at:
        kind = rng.choices(kinds, weights)[0]
        inputs, ending = JOURNEYS[kind](rng, me, users)
        steps = [None] + inputs
        sid = f"mixed-{me}-{uuid.uuid4().hex[:12]}"
        path: list[str] = []
        i = 0
        while i < len(steps):
            if steps[i] is not None:
                path.append(steps[i])
            last = i == len(steps) - 1
            form = {"sessionId": sid, "phoneNumber": msisdn(me), "serviceCode": "*123#", "networkCode": "64501",
                    "text": "*".join(path)}
            started = time.perf_counter()
            try:
                async with client.post(url, data=form) as resp:
                    body, status = await resp.text(), resp.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                body, status = f"{type(exc).__name__}: {exc}", 0
            took = time.perf_counter() - started
            timed = time.monotonic() - took >= tally.count_from     # past the warm-up (errors count in it too)
            if timed and last and kind in MONEY:
                tally.money.setdefault(kind, []).append(took)
            elif timed:
                tally.menu.append(took)
            if i == 0 and RESUME_OFFER in body:
                steps.insert(1, "2")
            wanted = ending if last and ending else "CON"
            if bare:
                wanted = "CON"
            if status != 200 or any(s in body for s in SOMETHING_WRONG) or not body.startswith(wanted):
                tally.errors.append(f"{kind} hop {i} ({'*'.join(path) or 'dial'}): {status} {body[:90]!r}")
                break
            if time.monotonic() >= stop_at and not last:
                break
            i += 1
            await asyncio.sleep(rng.uniform(*think))
        else:
            tally.journeys[kind] = tally.journeys.get(kind, 0) + 1


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _line(name: str, values: list[float]) -> str:
    top = max(values) * 1000 if values else 0.0
    return (f"{name:10} {len(values):7d} {_pct(values, 0.5):9.1f} {_pct(values, 0.99):9.1f} {top:9.1f}")


def ledger_verify(env: dict[str, str]) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-m", "ussd_app.cli", "ledger", "verify"], env=env,
                          capture_output=True, text=True, timeout=300)
    said = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, (said[-1] if said else "") if done.returncode == 0 else "; ".join(said[:5])


async def _create_schema(url: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    schema = f"bench_mixed_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    return schema


async def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


def parse_mix(raw: str) -> list[tuple[str, int]]:
    mix = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, weight = part.partition("=")
        if name not in JOURNEYS:
            raise SystemExit(f"--mix: unknown journey {name!r} (known: {', '.join(JOURNEYS)})")
        mix.append((name, int(weight or 1)))
    return mix


async def main_async(args: argparse.Namespace) -> int:
    from enerlectra.ports import free_port

    url = args.database_url
    schema = await _create_schema(url) if url else None
    try:
        with tempfile.TemporaryDirectory(prefix="enerlectra-mixed-") as home:
            port = free_port()
            env = server_env(home, port, url, schema)
            await asyncio.to_thread(seed, env, args.users)
            server = subprocess.Popen([sys.executable, "-m", "ussd_app.cli", "serve", "--port", str(port)], env=env)
            base = f"http://127.0.0.1:{port}"
            try:
                await _wait_up(base, server)
                tally = await run_load(base + "/ussd/africastalking", args, args.seconds)
            finally:
                server.terminate()
                server.wait(timeout=30)
            verified, said = await asyncio.to_thread(ledger_verify, env)
    finally:
        if schema:
            await _drop_schema(url, schema)
    bare = await bare_load(args) if args.bare_seconds > 0 else None
    return report(args, tally, verified, said, bare)


async def bare_load(args: argparse.Namespace) -> Tally:
    """The same users and think times against the bare handler, right after: the same-run baseline."""
    from enerlectra.ports import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.mixed", "--serve-bare", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_up(base, server)
        return await run_load(base + "/ussd/africastalking", args, args.bare_seconds, bare=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def run_load(url: str, args: argparse.Namespace, seconds: float, bare: bool = False) -> Tally:
    mix = parse_mix(args.mix)
    connector = aiohttp.TCPConnector(limit=args.users)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        tally = Tally(count_from=time.monotonic() + args.warmup)
        started = tally.count_from
        stop_at = started + seconds
        await asyncio.gather(*(user_loop(client, url, n, args.users, mix, (args.think_min, args.think_max),
                                         stop_at, tally, random.Random(args.seed * 1000 + n), bare)
                               for n in range(args.users)))
        tally.elapsed = time.monotonic() - started          # type: ignore[attr-defined]
    return tally


def report(args: argparse.Namespace, tally: Tally, verified: bool, said: str, bare: Tally | None) -> int:
    money = tally.all_money()
    requests = len(tally.menu) + len(money)
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(f"mixed load: {args.users} users, {args.seconds:.0f} s after a {args.warmup:.0f} s warm-up (not timed), "
          f"think {args.think_min}-{args.think_max} s, mix {args.mix}, {where} + embedded Redis "
          f"({os.cpu_count()} cores shared with the client)")
    print(f"requests {requests}, {requests / tally.elapsed:.1f}/s; journeys {tally.journeys}")  # type: ignore
    print(f"{'hops':10} {'count':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    print(_line("menu", tally.menu))
    print(_line("money", money))
    for kind, values in sorted(tally.money.items()):
        print(_line(f"  {kind}", values))
    if bare is not None:
        bare_hops = bare.menu + bare.all_money()
        print(_line("bare", bare_hops) + f"   (baseline: the same load on a bare aiohttp handler, "
                                        f"{args.bare_seconds:.0f} s)")
        floor = max(_pct(bare_hops, 0.99), 0.1)
        print(f"p99 / bare p99: menu {_pct(tally.menu, 0.99) / floor:.1f}x, money {_pct(money, 0.99) / floor:.1f}x; "
              f"p50 / bare p50: menu {_pct(tally.menu, 0.5) / max(_pct(bare_hops, 0.5), 0.1):.1f}x")
    print(f"errors {len(tally.errors)}")
    for line in tally.errors[:8]:
        print(f"  {line}")
    print(f"ledger verify: {'ok' if verified else 'FAILED'} {said}")
    met = (_pct(money, 0.99) <= TARGET_MONEY_P99_MS and _pct(tally.menu, 0.99) <= TARGET_MENU_P99_MS
           and not tally.errors and verified)
    print(f"targets (money p99 <= {TARGET_MONEY_P99_MS} ms, menu p99 <= {TARGET_MENU_P99_MS} ms, 0 errors, "
          f"ledger verified): {'met' if met else 'MISSED'}")
    return 0 if met or not args.check else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (a schema of its own, dropped after); "
                                               "default: embedded SQLite")
    parser.add_argument("--mix", default="menu=4,send=2,sell=2,withdraw=2",
                        help="journey weights (menu, send, sell, withdraw, buy)")
    parser.add_argument("--think-min", type=float, default=0.1, help="seconds a user thinks between hops (min)")
    parser.add_argument("--think-max", type=float, default=0.5, help="... (max)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds of the same load first, not timed (each process's first statements, "
                             "caches, lazy imports; the first money hop makes the sandbox's keys); errors count")
    parser.add_argument("--bare-seconds", type=float, default=10,
                        help="the same load on a bare aiohttp handler afterwards, for a same-run baseline (0: none)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if args.database_url and args.database_url.startswith("postgresql://"):
        args.database_url = "postgresql+asyncpg://" + args.database_url[len("postgresql://"):]
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-users":       # the child that seeds (see `seed`)
        _seed_here(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--serve-bare":      # the baseline's server (see `bare_load`)
        serve_bare(int(sys.argv[2]))
    else:
        main()
