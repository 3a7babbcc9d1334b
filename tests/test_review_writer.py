"""Review of the SQLite writer lock (enerlectra/db/writer_lock.py) and the in-place writer.

A wait for the writer lock that is given up (its time ran out) must let go of the lock the moment its thread
gets it, whether or not the event loop that gave it up ever runs again: the rq worker (workers/runtime.py)
runs each job with `loop.run_until_complete` and sits in Redis, its loop stopped, between jobs; a CLI
command's loop is closed by asyncio.run. A given-up wait whose release waited for that loop held every
process's writers off until the worker's next job (or the command's exit)."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from enerlectra.db.engine import Timeouts, make_engine
from enerlectra.db.writer_lock import lock_path
from tests.test_sqlite_writer import HOLDER, free_now  # one lock holder and probe for both files


@pytest.mark.parametrize("loop_after", ["stopped", "closed"])
def test_a_given_up_wait_lets_go_while_its_loop_is_not_running(tmp_path, loop_after):
    path = str(tmp_path / "writer.db")
    engine = make_engine(f"sqlite+aiosqlite:///{path}", timeouts=Timeouts(3, 300))
    loop = asyncio.new_event_loop()             # as the rq worker's: one loop, run once per job

    async def job() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, lock_path(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PoolTimeout):
            loop.run_until_complete(job())
        if loop_after == "closed":
            loop.close()
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not free_now(path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert free_now(path), "the given-up wait kept the lock while its loop was not running"
    finally:
        holder.kill()
        holder.wait()
        if not loop.is_closed():
            loop.run_until_complete(engine.dispose())
            loop.close()


async def test_a_writer_outside_the_lock_is_waited_for_off_the_loop_as_before(tmp_path):
    """A connection that holds SQLite's write lock without the flock (sqlite3 by hand, a process on a URL with
    '?', which keeps aiosqlite and no flock) for less than the statement bound. Before the in-place writer the
    money step waited for it on aiosqlite's thread and went through; in place, BEGIN IMMEDIATE waits in
    SQLite's busy handler on the loop (INLINE_BUSY_MS, 100 ms: the loop stands still) and then fails
    'database is locked'. Now BEGIN IMMEDIATE polls with the loop running, up to the statement bound."""
    path = str(tmp_path / "writer.db")
    engine = make_engine(f"sqlite+aiosqlite:///{path}", timeouts=Timeouts(3, 3000))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.4, other.rollback).start()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        waited = time.monotonic() - started
        ticking.cancel()
        assert waited >= 0.3
        assert ticks >= 10             # the loop ran while it waited (in SQLite's busy handler it stood still)
        other.close()
    finally:
        await engine.dispose()


async def test_writers_on_one_database_under_two_names_share_the_lock(tmp_path):
    """The same file reached through a symlink (a home directory linked elsewhere, a CLI given the other
    path): SQLite resolves the link (one -wal, one lock), the writer lock must too, or the two writers meet in
    SQLite's busy handler on the loop and one fails 'database is locked' after 100 ms."""
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    link.symlink_to(real)
    one = make_engine(f"sqlite+aiosqlite:///{real}", timeouts=Timeouts(3, 3000))
    other = make_engine(f"sqlite+aiosqlite:///{link}", timeouts=Timeouts(3, 3000))
    try:
        async with one.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        holding = asyncio.Event()

        async def slow() -> None:
            async with one.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                holding.set()
                await asyncio.sleep(0.4)

        first = asyncio.create_task(slow())
        await holding.wait()
        async with other.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        await first
        async with one.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    finally:
        await one.dispose()
        await other.dispose()
