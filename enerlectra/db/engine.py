"""The async engine and session factory, one per process."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass

from sqlalchemy import event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from enerlectra.db import inline_sqlite, writer_lock

SQLITE_BUSY_MS = 10_000        # without a statement timeout (CLI, migrations): wait this long for the writer
# SQLite connections are kept (each aiosqlite connection is a thread started; the pool's default 5 made a
# burst of hops open and close overflow connections, a thread each).
SQLITE_POOL = {"pool_size": 16, "max_overflow": 16}
# A reader on the loop (inline_sqlite) waits at most this long for a lock (WAL readers rarely meet one: a
# checkpoint's restart, a recovery): the loop must not stand still for the statement timeout.
INLINE_BUSY_MS = 100
SQLITE_BUSY = 5                 # sqlite3's error code for "database is locked"


@dataclass(frozen=True)
class Timeouts:
    """Bounds on waiting for the database, well under the aggregator's 10 s per hop: a hung database port
    costs a hop `connect` seconds and an error screen, not a minute (asyncpg's default connect wait)."""

    connect: float            # seconds to open a connection
    statement_ms: int         # PostgreSQL statement_timeout; SQLite's busy timeout; asyncpg's command timeout

    @classmethod
    def from_settings(cls, settings) -> "Timeouts":
        return cls(settings.db_connect_timeout_seconds, settings.db_statement_timeout_ms)


def make_engine(url: str, schema: str | None = None, read_only: bool = False,
                timeouts: Timeouts | None = None) -> AsyncEngine:
    """`schema` scopes a PostgreSQL connection to one schema (tests use their own). `timeouts`: the web app's
    and the workers' bounds (operator commands and migrations may run longer statements).

    On SQLite every transaction of the default engine is BEGIN IMMEDIATE (one writer, decided up front);
    a `read_only` engine begins deferred, so screens that only read never queue behind a writer (WAL).
    On a SQLite file both run their statements in place on the loop (`inline_sqlite`: a reader in WAL never
    waits for a lock; a writer takes the cross-process `writer_lock` before BEGIN and commits on a thread).
    """
    # hide_parameters: an SQL error (or SQL logging) shows the statement, never the values bound to it.
    kwargs: dict = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        # A local file does not drop connections: no ping (each one a round trip to the connection's thread).
        kwargs |= {"pool_pre_ping": False, **SQLITE_POOL}
        database = make_url(url).database
        file = bool(database) and database != ":memory:" and "?" not in url
        if file:
            kwargs["async_creator"] = inline_sqlite.creator(database, INLINE_BUSY_MS / 1000, writer=not read_only)
    if url.startswith("postgresql"):
        server_settings = {"search_path": schema} if schema else {}
        if read_only:       # a write on the reader fails loudly (it would never be committed, or commit unseen)
            server_settings["default_transaction_read_only"] = "on"
        connect_args: dict = {}
        if timeouts is not None:
            server_settings["statement_timeout"] = str(timeouts.statement_ms)
            # asyncpg's own bound, a little longer than the server's: it also covers a server that went silent
            connect_args |= {"timeout": timeouts.connect, "command_timeout": timeouts.statement_ms / 1000 + 1}
            # No short wait for a pooled connection: a burst of hops queues for the pool briefly, and every
            # connection in it is bounded by the two timeouts above (a 3 s pool wait failed 100 parallel hops).
        if server_settings:
            connect_args["server_settings"] = server_settings
        if connect_args:
            kwargs["connect_args"] = connect_args
    inline = "async_creator" in kwargs
    wait_ms = timeouts.statement_ms if timeouts is not None else SQLITE_BUSY_MS
    # In place, SQLite's own lock wait would stop the loop: short (writers take the flock first, below).
    busy_ms = INLINE_BUSY_MS if inline else wait_ms
    if url.startswith("sqlite") and not read_only and ":memory:" not in url:
        # SQLite has one writer: a process's writers queue for one connection, first come first served, instead
        # of each holding a connection and polling the lock with SQLite's sleeps (up to 100 ms a turn, newcomers
        # first), which left money steps waiting seconds under load (issue 18). The same bound as the lock wait.
        # No ping on checkout: a local file has no connection to lose, and the ping held the writer a turn more.
        kwargs |= {"pool_size": 1, "max_overflow": 0, "pool_timeout": wait_ms / 1000, "pool_pre_ping": False}
    engine = create_async_engine(url, **kwargs)
    if inline and not read_only:
        # Across processes writers queue at a flock, woken by the kernel, not by SQLite's sleeps.
        writer_lock.install(engine, database, wait_ms / 1000)
    if url.startswith("sqlite"):
        # aiosqlite logs every call with its arguments at DEBUG (bound values included): never below INFO.
        _at_least_info(logging.getLogger("aiosqlite"))
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI types
            dbapi_conn.isolation_level = None           # we say BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")     # readers do not block the one writer
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            if read_only:   # a write on the reader fails loudly instead of taking the writer lock on the loop
                cur.execute("PRAGMA query_only=ON")
            elif inline:    # BEGIN IMMEDIATE waits with the loop running (below), never in SQLite's sleeps
                cur.execute("PRAGMA busy_timeout=0")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # One writer at a time, decided at BEGIN: a transaction that reads balances and then writes
            # cannot lose a race to another that read the same balances.
            if inline and read_only:    # in place: BEGIN straight to sqlite3, not through a statement's machinery
                conn.connection.driver_connection.begin_deferred()
            elif inline:
                _begin_immediate(conn.connection.driver_connection, wait_ms / 1000)
            else:
                conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    return engine


def _begin_immediate(driver: inline_sqlite.InlineWriter, wait_s: float) -> None:
    """BEGIN IMMEDIATE for a writer in place. Our writers hold the writer lock by now, so SQLite's lock is
    free unless a connection that does not take it is writing (sqlite3 by hand; a URL with '?', which keeps
    aiosqlite): then wait for it as SQLite's busy handler would, polling up to the statement bound, but with
    the loop running between tries (its own wait would stand on the loop; busy_timeout is 0 here)."""
    deadline, pause = time.monotonic() + wait_s, 0.001
    while True:
        try:
            driver.begin_immediate()
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != SQLITE_BUSY or time.monotonic() + pause > deadline:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from None
        await_only(asyncio.sleep(pause))
        pause = min(2 * pause, 0.05)


def _at_least_info(logger: logging.Logger) -> None:
    if logger.getEffectiveLevel() < logging.INFO:
        logger.setLevel(logging.INFO)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
