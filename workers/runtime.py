"""What a job runs against: settings given by the worker entry point (or the environment),
and a fresh engine per job (rq forks a work horse per job; pools do not survive a fork)."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from sqlalchemy.ext.asyncio import async_sessionmaker

from ussd_app.db.engine import make_engine, make_sessionmaker
from ussd_app.settings import Settings

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings


def settings() -> Settings:
    return _settings or Settings.from_env()


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[async_sessionmaker]:
    s = settings()
    engine = make_engine(s.effective_database_url, schema=s.database_schema)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
