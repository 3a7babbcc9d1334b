"""The async engine and session factory, one per process."""
from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def make_engine(url: str, schema: str | None = None, read_only: bool = False) -> AsyncEngine:
    """`schema` scopes a PostgreSQL connection to one schema (tests use their own).

    On SQLite every transaction of the default engine is BEGIN IMMEDIATE (one writer, decided up front);
    a `read_only` engine begins deferred, so screens that only read never queue behind a writer (WAL).
    """
    # hide_parameters: an SQL error (or SQL logging) shows the statement, never the values bound to it.
    kwargs: dict = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("postgresql") and schema:
        kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        # aiosqlite logs every call with its arguments at DEBUG (bound values included): never below INFO.
        _at_least_info(logging.getLogger("aiosqlite"))
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI types
            dbapi_conn.isolation_level = None           # we say BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")     # readers do not block the one writer
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # One writer at a time, decided at BEGIN: a transaction that reads balances and then writes
            # cannot lose a race to another that read the same balances.
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    return engine


def _at_least_info(logger: logging.Logger) -> None:
    if logger.getEffectiveLevel() < logging.INFO:
        logger.setLevel(logging.INFO)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
