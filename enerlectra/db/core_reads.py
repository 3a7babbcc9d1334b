"""Core reads for the screens every hop shows: `reads()` opens a connection with awaitable `execute`, `scalar`
and `scalars`, for column SELECTs (no ORM entities: no identity map, no unit of work).

On a SQLite file it is a plain synchronous SQLAlchemy connection run in place on the loop, as the inline
reader's statements are (enerlectra/db/inline_sqlite.py: WAL readers never wait for the writer): a read
costs about a fifth of one through AsyncSession, which goes through greenlets and aiosqlite's adapter on
top of the same sqlite3 call (issue 18: one screen's read was a quarter of a hop's CPU). A block's
statements share one snapshot (BEGIN deferred, rolled back when the block ends), as the read-only engine's
do. Elsewhere (PostgreSQL) it is the read-only engine's AsyncConnection, which has the same three methods.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncContextManager, AsyncIterator, Callable

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine


class InPlace:
    """A synchronous connection behind the awaitable methods the async one has."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection):
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.scalar(statement, parameters)

    async def scalars(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.scalars(statement, parameters)


Reads = Callable[[], AsyncContextManager[Any]]


def in_place_engine(database: str, busy_ms: int) -> Engine:
    """A synchronous engine on a SQLite file for reads in place: a connection per block that is open at once
    (a pool that never makes the loop wait: overflow unbounded), WAL, a short busy wait, BEGIN deferred."""
    # check_same_thread off: the pool may close a connection from the garbage collector's thread.
    engine = create_engine(f"sqlite:///{database}", pool_size=16, max_overflow=-1, hide_parameters=True,
                           connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI types
        dbapi_conn.isolation_level = None           # we say BEGIN ourselves (below)
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        dbapi_conn.execute("PRAGMA query_only=ON")  # reads only: a write here would be a bug

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        conn.connection.dbapi_connection.execute("BEGIN")
    return engine


class KeptConnections:
    """The in-place engine's connections, kept open between blocks: a block takes one (or opens one) and
    gives it back rolled back -- its snapshot ended, as a checkin would -- without the pool's checkout,
    checkin and events, which cost a read block about 25 us of its 50 (a hop reads in one to three)."""

    KEEP = 16                                   # a web process rarely has more blocks open at once

    def __init__(self, engine: Engine):
        self.engine = engine
        self._idle: list[Connection] = []

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[InPlace]:
        conn = self._idle.pop() if self._idle else self.engine.connect()
        try:
            yield InPlace(conn)
        except BaseException:
            conn.close()                        # whatever went wrong, the next block gets a clean one
            raise
        try:
            conn.rollback()
        except Exception:
            conn.close()
            raise
        if len(self._idle) < self.KEEP:
            self._idle.append(conn)
        else:
            conn.close()

    def dispose(self) -> None:
        while self._idle:
            self._idle.pop().close()
        self.engine.dispose()


def make_reads(url: str, read_engine: AsyncEngine, busy_ms: int) -> tuple[Reads, KeptConnections | None]:
    """`reads` for this database, and what is behind it (to dispose of) when it reads in place."""
    database = make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:" or "?" in url:
        return read_engine.connect, None
    kept = KeptConnections(in_place_engine(database, busy_ms))
    return kept.reads, kept
