"""A fresh, migrated database for a test or a simulated world: a SQLite file, or a PostgreSQL schema of its
own (TEST_DATABASE_URL), removed afterwards."""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.migrate import upgrade_async


def pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://"):]
    return url


@contextlib.asynccontextmanager
async def fresh_database(workdir: Path, tag: str) -> AsyncIterator[tuple[str, str | None]]:
    """(url, schema); `tag` names the file or schema (t: a test, sim: a simulated world)."""
    url = pg_url()
    if url is None:
        path = workdir / f"{tag}-{uuid.uuid4().hex[:8]}.sqlite3"
        sqlite = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(sqlite)
        try:
            yield sqlite, None
        finally:
            path.unlink(missing_ok=True)
        return
    schema = f"{tag}_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        await upgrade_async(url, schema=schema)
        yield url, schema
    finally:
        await _drop(admin, schema)
        await admin.dispose()


async def _drop(admin, schema: str, tries: int = 5) -> None:
    """DROP SCHEMA, again if it lost a deadlock to a straggler of the test (a callback still landing): the
    straggler finishes, the drop goes through."""
    for attempt in range(tries):
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except DBAPIError as exc:
            if "deadlock" not in str(exc) or attempt == tries - 1:
                raise
            await asyncio.sleep(0.5)
