"""Migration 0023 (users rebuilt with AUTOINCREMENT on SQLite) at size: seconds to upgrade a database holding
N users, an account each, and M trades between them (trades.buyer_id and seller_id have no index of their
own: the rebuild indexes them for its length, or each user's re-insert would scan every trade).

    .venv/bin/python -m bench.migration_0023 --users 100000 --trades 1000000
"""
from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from enerlectra.db import migrate


def seed(path: Path, users: int, trades: int) -> None:
    """Rows written by hand (foreign keys off: the trades' orders are not made), as a bench database."""
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO users (id, msisdn, country, currency, language, name, pin_hash) "
                         "VALUES (?, ?, 'ZM', 'ZMW', 'en', 'n', 'x')",
                         ((i, f"+2609{i:08d}") for i in range(1, users + 1)))
        conn.executemany("INSERT INTO accounts (code, kind, asset, user_id, allow_negative, balance) "
                         "VALUES (?, 'money', 'ZMW', ?, 0, 0)",
                         ((f"user:{i}:ZMW", i) for i in range(1, users + 1)))
        columns = [row[1] for row in conn.execute("PRAGMA table_info(trades)") if row[1] != "id"]
        fixed = {c: 1 for c in columns} | {"currency": "ZMW", "created_at": "2026-12-07 08:00:00"}
        insert = f"INSERT INTO trades ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.executemany(insert,
                         ([(fixed | {"buyer_id": 1 + i % users, "seller_id": 1 + (7 * i) % users})[c]
                           for c in columns] for i in range(trades)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-0023-") as home:
        path = Path(home) / "bench.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url, "0022")
        seed(path, args.users, args.trades)
        started = time.perf_counter()
        migrate.upgrade(url, "head")
        print(f"0023 on {args.users} users and {args.trades} trades: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
