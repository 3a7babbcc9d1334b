"""What a job runs against: the settings the worker was started with, and per-process resources.

Jobs are sync (rq); their bodies are async (our domain is). Each process keeps one event loop and
one engine, so SQL statements are compiled once and connections are reused across jobs. A forked
work horse sees a different pid and builds its own (pools and sockets do not survive a fork).
"""
from __future__ import annotations

import asyncio
import os
from typing import Awaitable, Callable, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from enerlectra.db.engine import Timeouts, make_engine, make_sessionmaker
from enerlectra.domain import ledger, ledger_key, work
from enerlectra.domain.rentals import service as rental_service
from enerlectra.settings import Settings

T = TypeVar("T")
_settings: Settings | None = None
_state: dict = {}          # pid, loop, engine, db: rebuilt after a fork or a reconfigure
forking = False            # jobs run in forked work horses (rq Worker), not in the worker process


def configure(settings: Settings, fork: bool = False) -> None:
    global _settings, forking
    _settings, forking = settings, fork
    ledger.use_key(ledger_key.load(settings))      # jobs post (payments, market, clusters): one key per process
    rental_service.configure(settings)             # rental jobs bill by these RENTAL_* settings
    _state.clear()          # the next job builds resources for these settings


def settings() -> Settings:
    return _settings or Settings.from_env()


def _resources() -> dict:
    if _state.get("pid") != os.getpid():
        s = settings()
        loop = asyncio.new_event_loop()
        engine: AsyncEngine = make_engine(s.effective_database_url, schema=s.database_schema,
                                          timeouts=Timeouts.from_settings(s))
        _state.clear()
        # A job's units of work hand their follow-ups to the queues after commit, as the web app's do.
        _state.update(pid=os.getpid(), loop=loop, engine=engine, db=work.with_jobs(make_sessionmaker(engine), enqueue))
    return _state


async def enqueue(done: work.Followups) -> None:
    """A committed unit of work's follow-ups to the queues (a failure: logged by the unit of work, and the
    sweepers find the rows). Synchronous, as a job is: the loop has nothing else to run meanwhile."""
    from enerlectra.jobs import enqueue_followups, make_queues, redis_client

    connection = redis_client(settings().redis_url)
    try:
        enqueue_followups(make_queues(connection, settings().queue_name), done)
    finally:
        connection.close()


def cached(name: str, build: Callable[[], T]) -> T:
    """A per-process object built once (an HTTP client with its connection pool), like the engine."""
    state = _resources()
    if name not in state:
        state[name] = build()
    return state[name]


def run(job: Callable[[async_sessionmaker], Awaitable[T]]) -> T:
    """Run one job body on this process's loop with its session factory."""
    state = _resources()
    return state["loop"].run_until_complete(job(state["db"]))
