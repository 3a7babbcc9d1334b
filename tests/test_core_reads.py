"""Services.reads (enerlectra/db/core_reads.py, issue 18): on a SQLite file a synchronous Core connection in
place on the loop that reads what the writer committed, keeps one snapshot within a block, writes nothing and
starts no thread; elsewhere the read engine's AsyncConnection, with the same awaitable methods."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from enerlectra.db.core_reads import InPlace, make_reads
from enerlectra.db.engine import Timeouts, make_engine

COUNT = text("SELECT count(*) FROM t")


@pytest.fixture
async def db(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}"
    writer = make_engine(url, timeouts=Timeouts(3, 2000))
    reader = make_engine(url, read_only=True, timeouts=Timeouts(3, 2000))
    async with writer.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
    reads, in_place = make_reads(url, reader, 100)
    yield writer, reads
    in_place.dispose()
    await reader.dispose()
    await writer.dispose()


async def test_reads_in_place_see_commits_and_keep_a_snapshot_within_a_block(db):
    writer, reads = db
    threads = threading.active_count()
    async with reads() as r:
        assert isinstance(r, InPlace)
        assert await r.scalar(COUNT) == 2
        async with writer.begin() as w:
            await w.execute(text("INSERT INTO t (v) VALUES ('c')"))
        assert await r.scalar(COUNT) == 2, "one snapshot for the block"
        assert (await r.scalars(text("SELECT v FROM t ORDER BY id"))).all() == ["a", "b"]
    async with reads() as r:
        assert (await r.execute(COUNT)).scalar() == 3
    assert threading.active_count() == threads


async def test_reads_in_place_write_nothing(db):
    _writer, reads = db
    async with reads() as r:
        with pytest.raises(OperationalError):
            await r.execute(text("INSERT INTO t (v) VALUES ('x')"))
    async with reads() as r:
        assert await r.scalar(COUNT) == 2


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "postgresql+asyncpg://u@127.0.0.1/x"])
def test_elsewhere_reads_are_the_read_engines_connections(url):
    class Reader:
        def connect(self):
            return "the read engine's connection"
    reads, in_place = make_reads(url, Reader(), 100)
    assert in_place is None and reads() == "the read engine's connection"


async def test_blocks_reuse_kept_connections_each_with_its_own_snapshot_and_keep_at_most_a_few(db):
    writer, reads = db
    kept = reads.__self__
    async with reads() as r:
        first = r._conn.connection.dbapi_connection
    async with writer.begin() as w:
        await w.execute(text("INSERT INTO t (v) VALUES ('c')"))
    async with reads() as r:
        assert r._conn.connection.dbapi_connection is first, "the block's connection was kept"
        assert await r.scalar(COUNT) == 3, "a kept connection's snapshot ended with its block"
    many = [reads() for _ in range(kept.KEEP + 8)]          # more blocks open at once than are kept
    opened = [await block.__aenter__() for block in many]
    assert len({id(r._conn) for r in opened}) == len(many)
    for block in many:
        await block.__aexit__(None, None, None)
    assert len(kept._idle) == kept.KEEP
    with pytest.raises(ZeroDivisionError):
        async with reads() as r:
            broken = r._conn
            1 / 0
    assert broken.closed and broken not in kept._idle, "a block that failed gives its connection up"
    idle = list(kept._idle)
    kept.dispose()
    assert all(conn.closed for conn in idle) and not kept._idle
