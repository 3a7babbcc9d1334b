"""ledger.post's three statements on PostgreSQL, sent on the asyncpg connection under the caller's session.

A transfer is five round trips (BEGIN, lock, lane, write, COMMIT, as pgbench's simple-update); through the
ORM each statement also cost its compile, greenlet switch and result objects, which measured more than the
database's own work for these tiny statements. The same transaction, the same connection: only the Python
layer is skipped. SQLite keeps ledger.py's SQLAlchemy statements (no network, one writer).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class LockedAccount:
    """What sealing and the balance check read of an account (the attributes of db.models.Account)."""
    id: int
    code: str
    kind: str
    asset: str
    user_id: int | None
    allow_negative: bool
    balance: int


@dataclass(frozen=True)
class Head:
    id: int
    seq: int
    last_mac: str


_LOCK = """
SELECT a.id, a.code, a.kind, a.asset, a.user_id, a.allow_negative, a.balance,
       (SELECT e.id FROM journal_entries e WHERE e.idempotency_key = $1) AS seen
FROM accounts a WHERE a.id = ANY($2::integer[]) ORDER BY a.id FOR UPDATE OF a"""

_FREE_LANE = """
SELECT id, seq, last_mac FROM ledger_head ORDER BY id = $1 DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED"""

_WAIT_LANE = "SELECT id, seq, last_mac FROM ledger_head WHERE id = $1 FOR UPDATE"

_WRITE = """
WITH e AS (INSERT INTO journal_entries (idempotency_key, kind, memo, lane, seq, created_at, prev_mac, mac)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id),
     p AS (INSERT INTO postings (entry_id, account_id, asset, amount)
           SELECT e.id, m.account_id, m.asset, m.amount FROM e,
                  unnest($9::integer[], $10::varchar[], $11::bigint[]) WITH ORDINALITY AS m(account_id, asset, amount, n)
           ORDER BY m.n),
     a AS (UPDATE accounts SET balance = accounts.balance + m.amount
           FROM unnest($9::integer[], $11::bigint[]) AS m(id, amount), e WHERE accounts.id = m.id),
     h AS (UPDATE ledger_head SET seq = $5, last_entry_id = e.id, last_mac = $8 FROM e WHERE ledger_head.id = $4)
SELECT id FROM e"""
# Every part of _WRITE hangs on `e`: when the key was committed by another transaction after this one's lock
# statement took its snapshot (it waited for the accounts' row locks, so it could not see that entry), the
# INSERT does nothing, so nothing else is written, and the statement returns no row (see ledger.post).


async def driver(db: AsyncSession):
    """The asyncpg connection under the session's transaction, or None off asyncpg. SQLAlchemy sends BEGIN
    with the transaction's first statement: until then (`is_in_transaction()` False) it must send it."""
    if db.bind.dialect.driver != "asyncpg":
        return None
    conn = await db.connection()
    return (await conn.get_raw_connection()).driver_connection


async def _sent(call, statement: str, *args):
    """asyncpg's errors as SQLAlchemy raises them for the ORM's statements (IntegrityError for a key posted at
    the same moment by another transaction, DBAPIError otherwise): callers catch those, whichever path ran."""
    try:
        return await call(statement, *args)
    except Exception as exc:
        import asyncpg              # loaded already (this is an asyncpg connection); SQLite never imports it

        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            raise IntegrityError(statement, None, exc) from exc
        if isinstance(exc, asyncpg.PostgresError):
            raise DBAPIError(statement, None, exc) from exc
        raise


async def lock(pg, key: str, account_ids: list[int]) -> tuple[int | None, dict[int, LockedAccount]] | None:
    """The accounts locked in id order and the entry posted under `key`; None when no account matched."""
    rows = await _sent(pg.fetch, _LOCK, key, account_ids)
    if not rows:
        return None
    return rows[0]["seen"], {r["id"]: LockedAccount(*(r[f] for f in LockedAccount.__dataclass_fields__))
                             for r in rows}


async def take_lane(pg, preferred: int) -> Head:
    row = await _sent(pg.fetchrow, _FREE_LANE, preferred) or await _sent(pg.fetchrow, _WAIT_LANE, preferred)
    return Head(row["id"], row["seq"], row["last_mac"])


async def write(pg, key: str, kind: str, memo: str, lane: int, seq: int, at: datetime, prev_mac: str, mac: str,
                moved: dict[int, tuple[str, int]]) -> int | None:
    """The entry's id; None when `key` was posted meanwhile by another transaction (nothing written)."""
    return await _sent(pg.fetchval, _WRITE, key, kind, memo, lane, seq, at, prev_mac, mac, list(moved),
                       [asset for asset, _ in moved.values()], [n for _, n in moved.values()])
