"""Ledger throughput on PostgreSQL: transfers/s with many contending clients, against pgbench.

    .venv/bin/python -m bench.ledger --url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        --clients 64 --accounts 1000 --seconds 20

Both run in one schema created for the run (dropped after): our `ledger.post` (idempotency check,
account rows locked in id order, a free lane of the chain locked, entry + postings + balance updates)
moving money between random pairs of `--accounts` accounts, and pgbench's built-in `simple-update`
(`pgbench -b simple-update -c CLIENTS -j 2 -T SECONDS`, random rows of 100,000) on the same server with
the same number of clients. Prints both rates and the ratio. `--accounts 8` measures a few hot accounts
instead: then the accounts' own row locks bound the rate (at most 4 of the 64 clients can move money at
once), whatever the chain does.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import time
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.engine import make_sessionmaker
from enerlectra.db.migrate import upgrade_async
from enerlectra.domain import ledger
from enerlectra.domain.ledger import InsufficientFunds, Leg


async def ledger_rate(url: str, schema: str, clients: int, n_accounts: int, seconds: float) -> tuple[float, int]:
    engine = create_async_engine(url, pool_size=clients, max_overflow=0, hide_parameters=True,
                                 connect_args={"server_settings": {"search_path": schema}})
    try:
        return await transfer_rate(make_sessionmaker(engine), clients, n_accounts, seconds)
    finally:
        await engine.dispose()


async def transfer_rate(db, clients: int, n_accounts: int, seconds: float) -> tuple[float, int]:
    """Transfers/s among `n_accounts` hot accounts from `clients` concurrent sessions (also bench.market's
    baseline, on SQLite as well as PostgreSQL)."""
    async with db() as s, s.begin():
        operator = (await ledger.system(s, "operator", "ZMW")).id
        accounts = [(await ledger.account(s, f"bench:{n}:ZMW", "money", "ZMW")).id for n in range(n_accounts)]
        await ledger.post(s, "fund", "deposit", [Leg(operator, -10**12 * n_accounts)] +
                          [Leg(acc, 10**12) for acc in accounts])
    done, refused = 0, 0
    deadline = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal done, refused
        rng = random.Random(c)
        async with db() as s:     # warm the connection outside the timed work
            await s.execute(text("SELECT 1"))
        while time.perf_counter() < deadline:
            src, dst = rng.sample(accounts, 2)
            try:
                async with db() as s, s.begin():
                    await ledger.post(s, f"b-{c}-{uuid.uuid4().hex}", "transfer", [Leg(src, -100), Leg(dst, 100)])
                done += 1
            except InsufficientFunds:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    async with db() as s:
        problems = await ledger.verify(s)
    if problems:
        raise SystemExit(f"ledger verify failed after the bench: {problems[:3]}")
    return done / elapsed, done


def pgbench_rate(url: str, schema: str, clients: int, seconds: int) -> float | None:
    if shutil.which("pgbench") is None:
        return None
    m = re.match(r"postgresql(?:\+\w+)?://(?P<user>[^@:/]+)?@?(?P<host>[^:/]+)(?::(?P<port>\d+))?/(?P<db>\w+)", url)
    args = ["-h", m["host"], "-p", m["port"] or "5432", "-U", m["user"] or "postgres", m["db"]]
    env = {**os.environ, "PGOPTIONS": f"-c search_path={schema}"}     # pgbench's tables go in our schema
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", *args], env=env, check=True, capture_output=True)
    out = subprocess.run(["pgbench", "-b", "simple-update", "-c", str(clients), "-j", "2", "-T", str(seconds),
                          *args], env=env, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tps = ([0-9.]+)", out).group(1))


async def main_async(args: argparse.Namespace) -> None:
    ledger.use_key(os.urandom(32))          # a throwaway schema, sealed with a throwaway key
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(args.url, hide_parameters=True)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        await upgrade_async(args.url, schema=schema)
        rate, count = await ledger_rate(args.url, schema, args.clients, args.accounts, args.seconds)
        baseline = await asyncio.to_thread(pgbench_rate, args.url, schema, args.clients, int(args.seconds))
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
    print(f"clients={args.clients} accounts={args.accounts} seconds={args.seconds} ({os.cpu_count()} cores)")
    print(f"ledger transfers      {rate:9.0f} /s  ({count} posted, ledger verify ok)")
    if baseline is None:
        print("pgbench not found: no baseline")
        return
    print(f"pgbench simple-update {baseline:9.0f} tps")
    print(f"ratio ledger/pgbench  {rate / baseline:9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("TEST_DATABASE_URL",
                                                        "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
