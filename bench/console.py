"""The console's report queries at size (issue 19): the overview (30 days against the 30 before) and the USSD
funnel, timed on a seeded database.

    .venv/bin/python -m bench.console [--check]
    .venv/bin/python -m bench.console --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        --schema bench_console [--check]

Seeds (a SQLite file in a temp directory, or a PostgreSQL schema of its own, dropped after): 100,000 users
created over the last year, an account each, 1,000,000 journal entries with 2,000,000 postings, 500,000 USSD
sessions over the last 90 days, 50,000 SMS, 20,000 payments, 20,000 trades (40,000 orders, a few thousand
still open) and 5,000 advisor questions. Bulk inserts go straight through the driver (sqlite3 executemany,
asyncpg COPY): a bench database, so journal entries carry no valid MACs (`ledger verify` would refuse them) and
balances are not their postings' sums; the report queries read neither. The sessions, though, go through the
worker's own fold (workers/analytics.record, batches of 5,000): the rollups are what production keeps, and the
fold's rate is printed too. On PostgreSQL the tables are vacuumed and analyzed, as autovacuum would. Then
each query runs `--runs` times after one warm-up, on the read-only engine the
console uses, and so does each page (the real app on the same database, an operator logged in through the form,
each GET timed to the last byte); the median is compared with `--target-ms` (300). `--check` exits 1 when one
is over.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.migrate import upgrade_async
from enerlectra.db.models import Base
from enerlectra.reports.funnel import funnel
from enerlectra.reports.overview import overview
from enerlectra.reports.periods import Period
from enerlectra.ussd.ends import REASONS, SessionEnd
from ussd_app import appkeys
from workers.analytics import record

USERS, ENTRIES, SESSIONS = 100_000, 1_000_000, 500_000
SMS, PAYMENTS, TRADES, QUESTIONS = 50_000, 20_000, 20_000, 5_000
CHUNK = 50_000
VACUUMED = ("users", "user_activity", "sessions_daily", "funnel_daily", "sms_outbox", "payments", "trades",
            "market_orders", "advisor_questions", "ussd_sessions")
FOLD_BATCH = 5_000
LANGUAGES = (("en", 5), ("bem", 2), ("nya", 2), ("sw", 3))
# A few journeys as users walk them: (screens from home, how the last one usually ends)
WALKS = [["wallet_menu", "wallet_history"], ["wallet_menu", "wallet_sendto", "wallet_sendamount",
                                              "wallet_sendconfirm", "wallet_senddone"],
         ["money_menu", "money_depamount", "money_depconfirm", "money_depdone"],
         ["trade_menu", "trade_market"], ["trade_menu", "trade_sellkwh", "trade_sellprice", "trade_sellexpiry",
                                          "trade_sellconfirm", "trade_selldone"],
         ["advisor_menu", "advisor_question", "advisor_asked"], ["settings_menu", "settings_language"],
         ["clusters_menu", "clusters_members"]]


class Writer:
    """Bulk rows into one table through the driver: sqlite3 executemany, or asyncpg COPY."""

    def __init__(self, url: str, schema: str | None, sqlite_path: Path | None):
        self.url, self.schema, self.path = url, schema, sqlite_path
        self.sqlite: sqlite3.Connection | None = None
        self.pg = None

    async def __aenter__(self) -> "Writer":
        if self.path is not None:
            self.sqlite = sqlite3.connect(self.path)
            self.sqlite.execute("PRAGMA synchronous=OFF")
        else:
            import asyncpg
            dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
            self.pg = await asyncpg.connect(dsn, server_settings={"search_path": self.schema})
        return self

    async def __aexit__(self, *exc) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.pg is not None:
            await self.pg.close()

    async def rows(self, name: str, columns: list[str], rows) -> None:
        """`rows`: tuples in `columns` order (datetimes aware UTC). Columns left out with a scalar default get it."""
        table: Table = Base.metadata.tables[name]
        extra = [c for c in table.columns if c.name not in columns and c.default is not None
                 and c.default.is_scalar]
        names = columns + [c.name for c in extra]
        tail = tuple(c.default.arg for c in extra)
        chunk: list[tuple] = []
        for row in rows:
            chunk.append(row + tail)
            if len(chunk) >= CHUNK:
                await self._write(name, names, chunk)
                chunk = []
        if chunk:
            await self._write(name, names, chunk)

    async def _write(self, name: str, names: list[str], chunk: list[tuple]) -> None:
        if self.sqlite is not None:
            marks = ", ".join("?" * len(names))
            self.sqlite.executemany(f"INSERT INTO {name} ({', '.join(names)}) VALUES ({marks})",
                                    [tuple(_sqlite(v) for v in row) for row in chunk])
            self.sqlite.commit()
        else:
            await self.pg.copy_records_to_table(name, records=chunk, columns=names, schema_name=self.schema)


def _sqlite(value):
    """As SQLAlchemy stores it in SQLite: naive UTC text for timestamps, ISO text for days, 0/1."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _at(rng: random.Random, now: datetime, days: float) -> datetime:
    return now - timedelta(seconds=rng.uniform(0, days * 86400))


async def seed_users(writer: Writer, now: datetime, rng: random.Random) -> None:
    """USERS users created over the last year (ids 1..USERS), a ZMW account each, and the operator's clearing."""
    langs = [lang for lang, weight in LANGUAGES for _ in range(weight)]
    await writer.rows("users", ["id", "msisdn", "country", "currency", "language", "name", "pin_hash",
                                "created_at", "updated_at"],
                      ((n, f"+2609{n:08d}" if n % 4 else f"+2557{n:08d}", "ZM" if n % 4 else "TZ",
                        "ZMW" if n % 4 else "TZS", rng.choice(langs), f"User {n}", "bench", _at(rng, now, 365), now)
                       for n in range(1, USERS + 1)))
    await writer.rows("accounts", ["id", "code", "kind", "asset", "user_id", "created_at"],
                      [(1, "system:operator:ZMW", "clearing", "ZMW", None, now)]
                      + [(n + 1, f"user:{n}:ZMW", "money", "ZMW", n, now) for n in range(1, USERS + 1)])


async def seed(writer: Writer, now: datetime, rng: random.Random) -> dict[str, float]:
    took: dict[str, float] = {}
    t = time.perf_counter()
    await seed_users(writer, now, rng)
    took["users+accounts"] = time.perf_counter() - t
    t = time.perf_counter()
    await writer.rows("journal_entries", ["id", "lane", "seq", "idempotency_key", "kind", "prev_mac", "mac",
                                          "created_at"],
                      ((n, 1, n, f"bench:{n}", "transfer", "0" * 64, "0" * 64, _at(rng, now, 365))
                       for n in range(1, ENTRIES + 1)))

    def postings():
        for n in range(1, ENTRIES + 1):
            amount, account = rng.randint(100, 100_000), rng.randint(2, USERS + 1)
            yield (2 * n - 1, n, 1, "ZMW", -amount)
            yield (2 * n, n, account, "ZMW", amount)
    await writer.rows("postings", ["id", "entry_id", "account_id", "asset", "amount"], postings())
    took["ledger"] = time.perf_counter() - t
    t = time.perf_counter()
    await _seed_activity(writer, now, rng)
    took["sms+payments+market+advisor"] = time.perf_counter() - t
    return took


async def _seed_activity(writer: Writer, now: datetime, rng: random.Random) -> None:
    statuses = ["sent"] * 3 + ["delivered"] * 5 + ["failed", "queued"]
    await writer.rows("sms_outbox", ["id", "msisdn", "body", "kind", "status", "encoding", "segments", "cost",
                                     "created_at", "updated_at"],
                      [(n, "+260971000000", "Bench text", "receipt", s, "GSM-7", rng.randint(1, 3),
                        "ZMW 0.3000" if s in ("sent", "delivered") else None, at, at)
                       for n in range(1, SMS + 1) for s, at in [(rng.choice(statuses), _at(rng, now, 90))]])
    providers = [("mtn", "collection"), ("airtel", "collection"), ("mtn", "payout"), ("pawapay", "payout")]
    states = ["succeeded"] * 8 + ["failed", "pending"]
    await writer.rows("payments", ["id", "reference", "provider", "direction", "user_id", "msisdn", "currency",
                                   "amount", "state", "created_at", "updated_at"],
                      [(n, f"bench-{n}", p, d, rng.randint(1, USERS), "+260961000000", "ZMW",
                        rng.randint(500, 500_000), rng.choice(states), at, at)
                       for n in range(1, PAYMENTS + 1) for (p, d), at in [(rng.choice(providers), _at(rng, now, 90))]])
    orders = []
    for n in range(1, 2 * TRADES + 1):
        at = _at(rng, now, 90)
        still_open = rng.random() < 0.1
        orders.append((n, f"bench-o{n}", "ZMW", rng.randint(1, USERS), "sell" if n % 2 else "buy",
                       rng.randint(800, 2500), 2000, 0 if not still_open else 2000, "open" if still_open else "filled",
                       at, None if still_open else at + timedelta(hours=1)))
    await writer.rows("market_orders", ["id", "request_key", "currency", "user_id", "side", "price", "wh",
                                        "remaining_wh", "state", "created_at", "closed_at"], orders)
    await writer.rows("trades", ["id", "currency", "buy_order_id", "sell_order_id", "buyer_id", "seller_id",
                                 "price", "wh", "money", "fee", "entry_id", "created_at"],
                      [(n, "ZMW", 2 * n, 2 * n - 1, 1, 2, 1500, wh, wh * 3 // 2, 0, n, orders[2 * n - 1][9])
                       for n in range(1, TRADES + 1) for wh in [rng.randint(100, 5000)]])
    await writer.rows("advisor_questions", ["id", "request_key", "user_id", "topic", "source", "language",
                                            "question", "status", "cost_micro_usd", "created_at"],
                      [(n, f"bench-q{n}", rng.randint(1, USERS), "energy", "ussd", "en", "How?", "answered",
                        rng.randint(100, 3000), _at(rng, now, 90)) for n in range(1, QUESTIONS + 1)])


def session_ends(now: datetime, rng: random.Random, count: int):
    """Sessions over the last 90 days: home, then a walk cut short here and there, ending as sessions do."""
    langs = [lang for lang, weight in LANGUAGES for _ in range(weight)]
    for n in range(count):
        walk = rng.choice(WALKS)
        reached = ["main_menu"] + walk[:rng.randint(1, len(walk))]
        finished = len(reached) == len(walk) + 1
        reason = rng.choice(("done", "done", "hangup")) if finished else rng.choice(REASONS)
        user = rng.randint(1, USERS) if rng.random() < 0.95 else None
        country = "ZM" if (user or n) % 4 else "TZ"
        yield SessionEnd.of(session_id=f"ATUid_bench_{n}", aggregator="africastalking", msisdn=f"+2609{n:08d}",
                            user_id=user, country=country, language=rng.choice(langs), screens=reached,
                            last_screen=reached[-1], reason=reason, hops=len(reached) + rng.randint(0, 3),
                            ended_at=_at(rng, now, 90).timestamp())


async def fold_sessions(db, now: datetime, rng: random.Random) -> float:
    """Through the worker's fold, batch by batch; returns sessions/s."""
    t, batch = time.perf_counter(), []
    for end in session_ends(now, rng, SESSIONS):
        batch.append(end)
        if len(batch) == FOLD_BATCH:
            await record(db, batch)
            batch = []
    if batch:
        await record(db, batch)
    return SESSIONS / (time.perf_counter() - t)


async def timed(runs: int, call) -> float:
    """Median ms of `runs` calls after one warm-up."""
    await call()
    took = []
    for _ in range(runs):
        t = time.perf_counter()
        await call()
        took.append((time.perf_counter() - t) * 1000)
    return statistics.median(took)


PAGES = {"page /console/overview?days=30": "/console/overview?days=30",
         "page /console/funnel?days=30": "/console/funnel?days=30"}


async def page_timings(url: str, schema: str | None, runs: int, pages: dict[str, str] = PAGES,
                       role: str = "viewer") -> dict[str, float]:
    """The pages as an operator gets them: the real app (embedded Redis in a temp home) on this database, logged
    in through the form as `role`; each GET timed to the last byte of its HTML (queries, the carbon figure,
    charts, templates)."""
    from aiohttp.test_utils import TestClient, TestServer

    from enerlectra.domain import operators
    from enerlectra.settings import Settings
    from ussd_app.app import create_app

    with tempfile.TemporaryDirectory(prefix="enerlectra-console-home-") as home:
        settings = Settings(home=Path(home), database_url=url, database_schema=schema, console_kdf_cost=2**10,
                            ledger_key="bench-console-" + "k" * 32)
        async with TestClient(TestServer(create_app(settings))) as client:
            email, password = f"bench-{time.time_ns()}@example.com", "bench password 123"
            await operators.add(client.app[appkeys.DB], email, role, password, cost=2**10)
            form = await (await client.get("/console/login")).text()
            csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            login = await client.post("/console/login", data={"csrf": csrf, "email": email, "password": password})
            assert login.status == 200, login.status

            async def get(path: str) -> None:
                resp = await client.get(path)
                assert resp.status == 200, (path, resp.status)
                await resp.read()
            return {name: await timed(runs, lambda path=path: get(path)) for name, path in pages.items()}


async def vacuum_analyze(engine, tables) -> None:
    """On PostgreSQL, what autovacuum does to a live database: statistics, and the visibility map that lets the
    report queries read their indexes alone (freshly COPYed tables fetch every row: 1.3-2.5x slower)."""
    if engine.url.get_backend_name() != "postgresql":
        return
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await conn.execute(text(f"VACUUM ANALYZE {table}"))


async def run(url: str, schema: str | None, sqlite_path: Path | None, runs: int,
              reuse: bool = False) -> dict[str, float]:
    """Seed (unless `reuse`: a SQLite file seeded by an earlier run), then time the queries."""
    engine, reader = make_engine(url, schema=schema), make_engine(url, schema=schema, read_only=True)
    try:
        if not reuse:
            await upgrade_async(url, schema=schema)
            now, rng = datetime.now(timezone.utc), random.Random(19)
            async with Writer(url, schema, sqlite_path) as writer:
                took = await seed(writer, now, rng)
            for step, seconds in took.items():
                print(f"  seeded {step:30} {seconds:7.1f} s")
            rate = await fold_sessions(make_sessionmaker(engine), now, rng)
            print(f"  folded {SESSIONS:,} sessions through workers.analytics.record: {rate:,.0f}/s")
        await vacuum_analyze(engine, VACUUMED)
        db = make_sessionmaker(reader)
        period = Period.ending(30)
        queries = {"overview 30 days": await timed(runs, lambda: overview(db, 30)),
                   "funnel 30 days": await timed(runs, lambda: funnel(db, period)),
                   "funnel 30 days, sw": await timed(runs, lambda: funnel(db, period, language="sw"))}
        return {**queries, **await page_timings(url, schema, runs)}
    finally:
        await engine.dispose()
        await reader.dispose()


async def run_postgresql(args: argparse.Namespace, run=run) -> dict[str, float]:
    """In a schema of its own, dropped after; with --keep-schema kept, and timed as it is when it exists."""
    admin = create_async_engine(args.database_url)
    try:
        async with admin.begin() as conn:
            reuse = args.keep_schema and bool(await conn.scalar(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = :s AND table_name = 'users'"),
                {"s": args.schema}))
            if not reuse:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE'))
                await conn.execute(text(f'CREATE SCHEMA "{args.schema}"'))
        print(f"PostgreSQL (schema {args.schema}, "
              f"{'seeded before' if reuse else 'kept after' if args.keep_schema else 'dropped after'})")
        return await run(args.database_url, args.schema, None, args.runs, reuse)
    finally:
        if not args.keep_schema:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE'))
        await admin.dispose()


async def main_async(args: argparse.Namespace, run=run) -> int:
    """`run(url, schema, sqlite_path, runs, reuse)` -> {what: median ms} on SQLite, then on PostgreSQL if given."""
    results = {}
    if args.no_sqlite:
        pass
    elif args.sqlite_file:
        path = Path(args.sqlite_file)
        reuse = path.exists()
        print(f"SQLite ({path}, {'seeded before' if reuse else 'kept after'})")
        results["SQLite"] = await run(f"sqlite+aiosqlite:///{path}", None, path, args.runs, reuse)
    else:
        with tempfile.TemporaryDirectory(prefix="enerlectra-console-") as tmp:
            path = Path(tmp) / "bench.db"
            print("SQLite (a temp file)")
            results["SQLite"] = await run(f"sqlite+aiosqlite:///{path}", None, path, args.runs)
    if args.database_url:
        results["PostgreSQL"] = await run_postgresql(args, run)
    over = False
    print(f"\nmedian of {args.runs} runs (target <= {args.target_ms:.0f} ms)")
    for database, timings in results.items():
        for query, ms in timings.items():
            flag = "" if ms <= args.target_ms else "  OVER"
            over |= bool(flag)
            print(f"  {database:10} {query:44} {ms:8.1f} ms{flag}")
    return 1 if over and args.check else 0


def main(doc: str = __doc__, schema: str = "bench_console", run=run) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--database-url", help="also on PostgreSQL: postgresql+asyncpg://...")
    parser.add_argument("--schema", default=schema, help="the PostgreSQL schema (dropped after)")
    parser.add_argument("--keep-schema", action="store_true",
                        help="keep the PostgreSQL schema after; when it exists, time it as it is (no seeding)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sqlite-file", help="seed this SQLite file and keep it; when it exists, time it as it is")
    parser.add_argument("--target-ms", type=float, default=300.0)
    parser.add_argument("--check", action="store_true", help="exit 1 when a query's median is over the target")
    sys.exit(asyncio.run(main_async(parser.parse_args(), run)))


if __name__ == "__main__":
    main()
