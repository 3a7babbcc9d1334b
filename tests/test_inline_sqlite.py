"""The SQLite read-only engine runs its reads in place on the loop (enerlectra/db/inline_sqlite.py, issue 18):
it reads what the writer committed, a read transaction keeps its snapshot (WAL) while the writer commits,
errors are SQLAlchemy's as with aiosqlite, and no thread is started per connection."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from enerlectra.db.engine import Timeouts, make_engine
from enerlectra.db.inline_sqlite import InlineConnection


@pytest.fixture
async def engines(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}"
    writer = make_engine(url, timeouts=Timeouts(3, 2000))
    reader = make_engine(url, read_only=True, timeouts=Timeouts(3, 2000))
    async with writer.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
    yield writer, reader
    await reader.dispose()
    await writer.dispose()


async def test_the_reader_is_inline_and_reads_what_the_writer_committed(engines):
    writer, reader = engines
    threads = threading.active_count()
    async with reader.connect() as conn:
        assert isinstance((await conn.get_raw_connection()).driver_connection, InlineConnection)
        assert (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == ["a", "b"]
    assert threading.active_count() == threads


async def test_a_read_transaction_keeps_its_snapshot_while_the_writer_commits(engines):
    writer, reader = engines
    async with reader.begin() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
        async with writer.begin() as w:
            await w.execute(text("INSERT INTO t (v) VALUES ('c')"))
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    async with reader.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 3


async def test_an_sql_error_is_sqlalchemys_and_the_connection_goes_on(engines):
    _writer, reader = engines
    async with reader.connect() as conn:
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT nope FROM t"))
    async with reader.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
