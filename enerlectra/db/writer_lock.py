"""One writer at a time on a SQLite file, across processes, handed over by the kernel.

A process's writers already queue for its one write connection (engine.py). Across processes (the web
workers, the job worker) they met in SQLite's busy handler, which polls the lock with sleeps that grow to
100 ms a turn and favours whoever arrives last: under the mixed load a money step waited 0.1-0.5 s for a
writer lock that is held about 20 ms (issue 18). Here a write connection takes an exclusive `flock` on a
file beside the database when it is checked out of its pool and gives it back when it is checked in: a
waiter blocks in the kernel and wakes the moment the holder lets go. BEGIN IMMEDIATE then finds the lock
free; a process that does not take the flock (sqlite3 by hand) is still kept out by SQLite's own lock.

A process that dies lets go of its flock with its file descriptors. Each checkout opens the file anew:
flock belongs to an open file, so a wait given up (its time ran out, its task was cancelled) keeps its own
descriptor, and closes it, giving the lock back, the moment its thread gets the lock.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

_FD = "writer_lock_fd"
# Threads that block in flock: one wait at a time per process (its writers queue for the one connection
# first), more only while waits given up are still blocked.
_THREADS = 4
_threads: tuple[int, ThreadPoolExecutor] | None = None


def _pool() -> ThreadPoolExecutor:
    """This process's flock threads (made again in a forked child: threads do not survive a fork)."""
    global _threads
    if _threads is None or _threads[0] != os.getpid():
        _threads = (os.getpid(), ThreadPoolExecutor(_THREADS, thread_name_prefix="sqlite-writer"))
    return _threads[1]


def lock_path(database: str) -> str:
    """Beside the file itself: SQLite follows a symlink to the database (one WAL, one lock), so must this."""
    return os.path.realpath(database) + "-writer"


def acquire(path: str, timeout: float) -> int:
    """The lock, as the descriptor that holds it; called where SQLAlchemy may await (a pool checkout under
    an AsyncEngine). Raises SQLAlchemy's pool TimeoutError after `timeout` seconds, as a full pool does."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)      # free: no thread hand-off
        return fd
    except BlockingIOError:
        pass
    except BaseException:
        os.close(fd)
        raise
    wait = _Wait(fd)
    got = asyncio.get_running_loop().run_in_executor(_pool(), wait.run)
    try:
        await_only(asyncio.wait_for(asyncio.shield(got), timeout))
    except BaseException as exc:
        wait.give_up()                  # let go as soon as it is ours
        if isinstance(exc, asyncio.TimeoutError):
            raise PoolTimeout(f"no turn at the SQLite writer lock in {timeout:g} s") from None
        raise
    return fd


class _Wait:
    """One blocking flock on a thread. Given up, the lock is let go by whichever side is last, the thread as
    it gets the lock or the giver-up: never through the loop, which may not run again soon (the rq worker's
    is stopped between jobs, a command's closed by asyncio.run) while every process's writers wait."""

    __slots__ = ("fd", "_guard", "_done", "_given_up")

    def __init__(self, fd: int):
        self.fd = fd
        self._guard = threading.Lock()
        self._done = self._given_up = False

    def run(self) -> None:
        with self._guard:
            if self._given_up:          # given up before a thread was free: no wait at all
                self._done = True
                os.close(self.fd)
                return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        finally:
            with self._guard:
                self._done = True
                if self._given_up:
                    os.close(self.fd)

    def give_up(self) -> None:
        with self._guard:
            self._given_up = True
            if self._done:
                os.close(self.fd)


def install(engine: AsyncEngine, database: str, timeout: float) -> None:
    """Every connection of `engine` (a writer's pool) holds the lock from checkout to checkin."""
    path = lock_path(database)

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _take(_dbapi_conn, record, _proxy):  # noqa: ANN001 - pool types
        _give_back(None, record)          # never two: a descriptor left behind would hold the lock for good
        record.info[_FD] = acquire(path, timeout)

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _give_back(_dbapi_conn, record):  # noqa: ANN001
        fd = record.info.pop(_FD, None) if record is not None else None
        if fd is not None:
            os.close(fd)

    event.listen(engine.sync_engine.pool, "detach", _give_back)
