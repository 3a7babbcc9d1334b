"""SQLite writers run in place behind a cross-process writer lock (enerlectra/db/writer_lock.py,
enerlectra/db/inline_sqlite.py InlineWriter; issue 18).

The lock is held from a write connection's checkout to its checkin; a writer waiting for another process
waits off the loop (other tasks run); a wait given up (timed out, cancelled) gives the lock back the moment
its thread gets it; a killed holder frees it; writers in several processes lose no row; the WAL is
checkpointed on a thread, not by a COMMIT on the loop."""
from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from enerlectra.db import inline_sqlite
from enerlectra.db.engine import Timeouts, make_engine
from enerlectra.db.inline_sqlite import InlineWriter
from enerlectra.db.writer_lock import lock_path

# Another process holding the writer lock until its stdin closes or says so.
HOLDER = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
          "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()")

# A process that inserts N rows, one transaction each, through the app's own engine.
WRITER = """
import asyncio, sys
from sqlalchemy import text
from enerlectra.db.engine import Timeouts, make_engine

async def main(url, who, n):
    engine = make_engine(url, timeouts=Timeouts(3, 20000))
    for i in range(n):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (who, i) VALUES (:w, :i)"), {"w": who, "i": i})
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.fixture
def database(tmp_path):
    path = str(tmp_path / "writer.db")
    return path, f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def writer(database):
    _path, url = database
    engine = make_engine(url, timeouts=Timeouts(3, 400))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, i INTEGER, blob BLOB)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def holder(database):
    """Start another process that holds the writer lock; yields it (stdin: a line lets go)."""
    procs = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, lock_path(database[0])], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def let_go(proc: subprocess.Popen) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    proc.wait(timeout=10)


def free_now(database: str) -> bool:
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


async def free_soon(database: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if free_now(database):
            return True
        await asyncio.sleep(0.02)
    return False


async def rows(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM t"))).scalar()


async def test_the_writer_is_in_place_and_holds_the_lock_from_checkout_to_checkin(writer, database):
    assert free_now(database[0])
    async with writer.begin() as conn:
        assert isinstance((await conn.get_raw_connection()).driver_connection, InlineWriter)
        await conn.execute(text("INSERT INTO t (who) VALUES ('a')"))
        assert not free_now(database[0])
    assert free_now(database[0])
    with pytest.raises(ZeroDivisionError):           # rolled back: let go all the same
        async with writer.begin() as conn:
            await conn.execute(text("INSERT INTO t (who) VALUES ('b')"))
            1 / 0
    assert free_now(database[0])
    assert await rows(writer) == 1


async def test_a_writer_waits_for_another_process_off_the_loop(writer, holder):
    other = holder()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with writer.begin() as conn:
            await conn.execute(text("INSERT INTO t (who) VALUES ('waited')"))

    ticking = asyncio.create_task(ticker())
    waiting = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    assert not waiting.done() and ticks >= 5          # the loop ran on while the write waited
    let_go(other)
    await asyncio.wait_for(waiting, 5)
    ticking.cancel()
    assert await rows(writer) == 1


@pytest.mark.parametrize("give_up", ["timeout", "cancel"])
async def test_a_wait_given_up_gives_the_lock_back_once_it_gets_it(writer, holder, database, give_up):
    other = holder()

    async def write(who: str) -> None:
        async with writer.begin() as conn:
            await conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who})

    if give_up == "timeout":                           # the engine waits 0.4 s, as a full pool would
        with pytest.raises(PoolTimeout):
            await write("late")
    else:
        waiting = asyncio.create_task(write("cancelled"))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    let_go(other)
    assert await free_soon(database[0])               # the given-up wait's thread took it and let go
    await write("next")
    assert await rows(writer) == 1


async def test_a_killed_holder_frees_the_lock(writer, holder, database):
    other = holder()
    assert not free_now(database[0])
    os.kill(other.pid, signal.SIGKILL)
    other.wait(timeout=10)
    async with writer.begin() as conn:
        await conn.execute(text("INSERT INTO t (who) VALUES ('after')"))
    assert await rows(writer) == 1


async def test_writers_in_several_processes_lose_no_row(writer, database):
    path, url = database
    each, procs = 150, []
    for who in ("p1", "p2", "p3"):
        procs.append(await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, url, who, str(each)))
    for i in range(each):                              # this process writes at the same time
        async with writer.begin() as conn:
            await conn.execute(text("INSERT INTO t (who, i) VALUES ('here', :i)"), {"i": i})
    assert [await proc.wait() for proc in procs] == [0, 0, 0]
    async with writer.connect() as conn:
        counts = dict((await conn.execute(text("SELECT who, count(DISTINCT i) FROM t GROUP BY who"))).all())
        assert (await conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"
    assert counts == {"p1": each, "p2": each, "p3": each, "here": each}


async def test_the_wal_is_checkpointed_on_a_thread_not_by_a_commit(writer, database, monkeypatch):
    path = database[0]
    monkeypatch.setattr(inline_sqlite, "CHECKPOINT_EVERY", 5)
    blob = os.urandom(100_000)
    async with writer.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        await conn.commit()
    driver._commits = 0                       # counted from here (the fixture's table, the PRAGMA above)
    size = os.path.getsize(path)
    for i in range(4):
        async with writer.begin() as conn:
            await conn.execute(text("INSERT INTO t (who, blob) VALUES ('big', :b)"), {"b": blob})
    assert driver._checkpointing is None and os.path.getsize(path) == size      # still all in the WAL
    async with writer.begin() as conn:
        await conn.execute(text("INSERT INTO t (who, blob) VALUES ('big', :b)"), {"b": blob})
    await asyncio.wrap_future(driver._checkpointing)
    assert os.path.getsize(path) > size + 5 * len(blob)                          # copied into the file


async def test_a_writer_that_closes_after_commits_checkpoints_them(database):
    """A command or a job commits fewer than CHECKPOINT_EVERY times and closes: its commits reach the file."""
    path, url = database
    engine = make_engine(url, timeouts=Timeouts(3, 400))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)"))
        await conn.execute(text("INSERT INTO t (blob) VALUES (:b)"), {"b": os.urandom(300_000)})
    size = os.path.getsize(path)
    other = sqlite3.connect(path)          # still open: SQLite's own checkpoint at the last close does not run
    other.execute("SELECT count(*) FROM t").fetchone()
    try:
        await engine.dispose()
        assert os.path.getsize(path) > size + 300_000          # by the time the close returned
    finally:
        other.close()
