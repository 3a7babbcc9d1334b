"""SQLite on the event loop: connections shaped like aiosqlite's that run each call in place.

aiosqlite runs every call (cursor, execute, fetch, close, BEGIN, ROLLBACK) on the connection's own thread
and wakes the loop for each answer: a screen's one indexed read cost about eight thread hand-offs, most of
a hop's CPU (issue 18). The read-only engine's statements are tiny indexed SELECTs in WAL mode, where a
reader never waits for the writer, so running them in place is faster than handing them off. Writers run
in place too (`InlineWriter`), once they hold the cross-process writer lock (`writer_lock`): the wait for
the lock is the one step that must not stop the loop, and it is awaited off the loop.

SQLAlchemy's aiosqlite dialect drives this through `async_creator`; the methods it calls are below.
"""
from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import quote


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

    def begin_immediate(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

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


class InlineWriter(InlineConnection):
    """A writer that runs its whole transaction in place, COMMIT included, and checkpoints on a thread.

    Through aiosqlite, each statement of a write transaction was a thread hand-off and a loop turn, and
    under load a turn took milliseconds while the transaction held SQLite's one writer lock: a money step
    waited 0.1-0.5 s for a lock used ~20 ms at a time (issue 18). In place, a transaction holds the lock for
    its CPU time and its COMMIT (the WAL's sync, ~0.3 ms on this box). The writer lock is taken before BEGIN
    (`writer_lock`, awaited off the loop), so BEGIN IMMEDIATE finds SQLite's lock free and does not wait.
    The one slow disk step a COMMIT may carry, SQLite's automatic checkpoint (copying the WAL into the
    database, every ~1000 pages), is turned off here and run on a thread of its own instead: every
    CHECKPOINT_EVERY commits; and, in place, when the connection closes after commits (a command, a job, a
    connection dropped after a timeout: none may leave the WAL growing)."""

    def __init__(self, conn: sqlite3.Connection, database: str):
        super().__init__(conn)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._database = database
        self._commits = 0
        self._checkpointing: Future | None = None
        self._disk = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")

    async def commit(self) -> None:
        self._conn.commit()
        self._commits += 1          # since the last checkpoint
        if self._commits >= CHECKPOINT_EVERY and (self._checkpointing is None or self._checkpointing.done()):
            self._checkpoint()

    def _checkpoint(self) -> None:
        self._commits = 0
        try:
            self._checkpointing = self._disk.submit(checkpoint, self._database)
        except RuntimeError:         # the interpreter is shutting down: SQLite checkpoints at the last close
            pass

    def stop(self) -> None:
        # Done before the close returns: a checkpoint left running after it would open the file again and
        # make its -wal and -shm anew, under whoever deletes the database next (a test's temporary directory).
        self._disk.shutdown(wait=True)          # a checkpoint under way (rare: one every 100 commits)
        if self._connection is not None and self._commits:
            self._commits = 0
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:    # the next writer's checkpoint copies it
                pass
        super().stop()


# Commits between checkpoints of a writer: SQLite's own default is 1000 WAL pages; a money step writes ~10.
CHECKPOINT_EVERY = 100


def checkpoint(database: str) -> None:
    """Copy what the WAL holds into the database, as far as no reader still needs it (PASSIVE: never waits
    for, nor blocks, a reader or the writer). Errors are the next checkpoint's to retry."""
    # mode=rw: a database deleted meanwhile (a test's temporary one) is not made again, empty
    conn = sqlite3.connect(f"file:{quote(database)}?mode=rw", uri=True, timeout=INLINE_CHECKPOINT_BUSY_S,
                           isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


INLINE_CHECKPOINT_BUSY_S = 1.0


def creator(database: str, timeout: float, writer: bool = False) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: a new inline connection to the file `database` (an
    InlineWriter when `writer`)."""
    async def connect() -> InlineConnection:
        # check_same_thread off: the pool may close a connection from the garbage collector's thread.
        conn = sqlite3.connect(database, timeout=timeout, check_same_thread=False, isolation_level=None)
        return InlineWriter(conn, database) if writer else InlineConnection(conn)
    return connect
