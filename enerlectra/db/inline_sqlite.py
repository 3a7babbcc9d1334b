"""SQLite reads on the event loop: a connection shaped like aiosqlite's that runs each call in place.

aiosqlite runs every call (cursor, execute, fetch, close, BEGIN, ROLLBACK) on the connection's own thread
and wakes the loop for each answer: a screen's one indexed read cost about eight thread hand-offs, most of
a hop's CPU (issue 18). The read-only engine's statements are tiny indexed SELECTs in WAL mode, where a
reader never waits for the writer, so running them in place is faster than handing them off. Writes keep
aiosqlite (a writer may wait on the lock; that wait must not stop the loop).

SQLAlchemy's aiosqlite dialect drives this through `async_creator`; the methods it calls are below.
"""
from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Callable


class InlineCursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    async def __aenter__(self) -> "InlineCursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> "InlineCursor":
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> "InlineCursor":
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's queue of calls: SQLAlchemy's isolation-level setter puts one on it."""

    def put_nowait(self, item: tuple[asyncio.Future | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite's thread does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn     # aiosqlite's "still open" mark
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    def begin_deferred(self) -> None:
        self._conn.execute("BEGIN")

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def creator(database: str, timeout: float) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: a new inline connection to the file `database`."""
    async def connect() -> InlineConnection:
        # check_same_thread off: the pool may close a connection from the garbage collector's thread.
        return InlineConnection(sqlite3.connect(database, timeout=timeout, check_same_thread=False,
                                                isolation_level=None))
    return connect
