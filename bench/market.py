"""Market throughput: orders matched and settled per second, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.market --clients 8 --seconds 10

In one run, per database: the plain ledger transfer of bench.ledger (the baseline) and then the market:
each client places an offer of one lot and a bid that takes it, over and over (two orders, one fill; two
ledger entries: the offer's escrow and the fill's settlement, all under the market's lock). Prints
fills/s, orders/s and fills per transfer. `ledger verify` and the escrow check run after each.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.ledger import transfer_rate
from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.migrate import upgrade_async
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.rules import MarketRules
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.work import unit_of_work


async def market_rate(db, clients: int, seconds: float) -> tuple[float, int]:
    rules, pin = MarketRules(), hash_user_pin("4826", 16)
    traders = []
    for c in range(clients):
        seller = await users.register(db, parse_msisdn(f"+26097{3000000 + 2 * c:07d}"), "S", "en", pin)
        buyer = await users.register(db, parse_msisdn(f"+26097{3000001 + 2 * c:07d}"), "B", "en", pin)
        await wallet.credit(db, f"bench:e:{c}", seller, ledger.ENERGY, 10**12, "bench")
        await wallet.credit(db, f"bench:m:{c}", buyer, "ZMW", 10**12, "bench")
        traders.append((seller, buyer))
    fills = 0
    deadline = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal fills
        seller, buyer = traders[c]
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            async with unit_of_work(db) as s:
                await book.place(s, f"s{c}-{n}", seller, "sell", 100, 1200, rules, texts.messages())
            async with unit_of_work(db) as s:
                placed = await book.place(s, f"b{c}-{n}", buyer, "buy", 100, 5000, rules, texts.messages(),
                                          keep_rest=False)
            fills += len(placed.trades)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    async with db() as s:
        problems = await ledger.verify(s) + await book.check_escrow(s)
    if problems:
        raise SystemExit(f"verify failed after the market bench: {problems[:3]}")
    return fills / elapsed, fills


async def run(db, clients: int, seconds: float) -> tuple[float, float]:
    base, _ = await transfer_rate(db, clients, 8, seconds)
    fills, _ = await market_rate(db, clients, seconds)
    return base, fills


async def on_sqlite(clients: int, seconds: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-market-") as home:
        url = f"sqlite+aiosqlite:///{Path(home) / 'bench.sqlite3'}"
        await upgrade_async(url)
        engine = make_engine(url)
        try:
            return await run(make_sessionmaker(engine), clients, seconds)
        finally:
            await engine.dispose()


async def on_postgres(url: str, clients: int, seconds: float) -> tuple[float, float]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url, hide_parameters=True)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(url, pool_size=clients, max_overflow=0, hide_parameters=True,
                                 connect_args={"server_settings": {"search_path": schema}})
    try:
        await upgrade_async(url, schema=schema)
        return await run(make_sessionmaker(engine), clients, seconds)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("TEST_DATABASE_URL",
                                                        "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    ledger.use_key(os.urandom(32))          # throwaway databases, sealed with a throwaway key
    results = [("SQLite", *asyncio.run(on_sqlite(args.clients, args.seconds)))]
    if not args.sqlite_only:
        results.append(("PostgreSQL", *asyncio.run(on_postgres(args.url, args.clients, args.seconds))))
    print(f"clients={args.clients} seconds={args.seconds} ({os.cpu_count()} cores); a fill = 2 orders, 2 entries")
    for name, base, fills in results:
        print(f"{name:10} ledger transfers {base:7.0f}/s   market fills {fills:7.0f}/s (orders {2 * fills:7.0f}/s)"
              f"   fills/transfer {fills / base:5.3f}")


if __name__ == "__main__":
    main()
