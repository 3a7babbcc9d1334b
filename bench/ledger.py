"""Ledger throughput on PostgreSQL: transfers/s with many contending clients, against pgbench.

    .venv/bin/python -m bench.ledger --url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        --clients 64 --accounts 1000 --seconds 20

Both run in one schema created for the run (dropped after): our `ledger.post` (idempotency check,
account rows locked in id order, a free lane of the chain locked, entry + postings + balance updates)
moving money between random pairs of `--accounts` accounts, and pgbench's built-in `simple-update`
(`pgbench -b simple-update -c CLIENTS -j 2 -T SECONDS`, random rows of 100,000) on the same server with
the same number of clients. Our clients are spread over `--processes` processes (default: one per core,
as `serve --workers` runs the web app; pgbench runs `-j 2` threads). Prints both rates and the ratio. `--accounts 8` measures a few hot accounts
instead: then the accounts' own row locks bound the rate (at most 4 of the 64 clients can move money at
once), whatever the chain does.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.engine import make_sessionmaker
from enerlectra.db.migrate import upgrade_async
from enerlectra.domain import ledger
from enerlectra.domain.ledger import InsufficientFunds, Leg


def _engine(url: str, schema: str, clients: int):
    return create_async_engine(url, pool_size=clients, max_overflow=0, hide_parameters=True,
                               connect_args={"server_settings": {"search_path": schema}})


async def ledger_rate(url: str, schema: str, clients: int, n_accounts: int, seconds: float,
                      processes: int = 1) -> tuple[float, int]:
    """Transfers/s from `clients` sessions spread over `processes` processes (as `serve --workers N` spreads
    hops, and pgbench -j 2 spreads its clients over threads), all started at one moment."""
    engine = _engine(url, schema, 2)
    try:
        db = make_sessionmaker(engine)
        accounts = await fund(db, n_accounts)
        start_at = time.time() + 2 + processes         # time for the processes to start and connect
        shares = [clients // processes + (p < clients % processes) for p in range(processes)]
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = sum(await asyncio.gather(*(
                asyncio.wrap_future(pool.submit(_process, url, schema, ledger.current_key(), accounts,
                                                range(sum(shares[:p]), sum(shares[:p + 1])), start_at, seconds))
                for p in range(processes))))
        await check(db)
        return done / seconds, done
    finally:
        await engine.dispose()


def _process(url: str, schema: str, key: bytes, accounts: list[int], clients: range, start_at: float,
             seconds: float) -> int:
    ledger.use_key(key)

    async def run() -> int:
        engine = _engine(url, schema, len(clients))
        try:
            return await run_clients(make_sessionmaker(engine), accounts, clients, start_at, seconds)
        finally:
            await engine.dispose()
    return asyncio.run(run())


async def fund(db, n_accounts: int) -> list[int]:
    """`n_accounts` accounts with money enough for the whole run, funded by one entry."""
    async with db() as s, s.begin():
        operator = (await ledger.system(s, "operator", "ZMW")).id
        accounts = [(await ledger.account(s, f"bench:{n}:ZMW", "money", "ZMW")).id for n in range(n_accounts)]
        await ledger.post(s, "fund", "deposit", [Leg(operator, -10**12 * n_accounts)] +
                          [Leg(acc, 10**12) for acc in accounts])
    return accounts


async def run_clients(db, accounts: list[int], clients: range, start_at: float, seconds: float) -> int:
    """Each client posts transfers between two random accounts, one transaction each, from `start_at` (wall
    clock) for `seconds`. Returns how many were posted."""
    done = 0

    async def client(c: int) -> None:
        nonlocal done
        rng = random.Random(c)
        async with db() as s:     # warm the connection outside the timed work
            await s.execute(text("SELECT 1"))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            src, dst = rng.sample(accounts, 2)
            try:
                async with db() as s, s.begin():
                    await ledger.post(s, f"b-{c}-{uuid.uuid4().hex}", "transfer", [Leg(src, -100), Leg(dst, 100)])
                done += 1
            except InsufficientFunds:
                pass

    await asyncio.gather(*(client(c) for c in clients))
    return done


async def check(db) -> None:
    async with db() as s:
        problems = await ledger.verify(s)
    if problems:
        raise SystemExit(f"ledger verify failed after the bench: {problems[:3]}")


async def transfer_rate(db, clients: int, n_accounts: int, seconds: float) -> tuple[float, int]:
    """Transfers/s among `n_accounts` accounts from `clients` concurrent sessions of this process (bench.market's
    baseline, on SQLite as well as PostgreSQL)."""
    accounts = await fund(db, n_accounts)
    done = await run_clients(db, accounts, range(clients), time.time(), seconds)
    await check(db)
    return done / seconds, done


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
        rate, count = await ledger_rate(args.url, schema, args.clients, args.accounts, args.seconds,
                                        args.processes)
        baseline = await asyncio.to_thread(pgbench_rate, args.url, schema, args.clients, int(args.seconds))
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
    print(f"clients={args.clients} accounts={args.accounts} seconds={args.seconds} processes={args.processes} "
          f"({os.cpu_count()} cores)")
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
    parser.add_argument("--processes", type=int, default=os.cpu_count(),
                        help="processes the clients are spread over (default: one per core, like serve --workers)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
