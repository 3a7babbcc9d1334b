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
from enerlectra.domain import ledger, ledger_key
from enerlectra.settings import Settings

T = TypeVar("T")
_settings: Settings | None = None
_state: dict = {}          # pid, loop, engine, db: rebuilt after a fork or a reconfigure
forking = False            # jobs run in forked work horses (rq Worker), not in the worker process


def configure(settings: Settings, fork: bool = False) -> None:
    global _settings, forking
    _settings, forking = settings, fork
    ledger.use_key(ledger_key.load(settings))      # jobs post (payments, market, clusters): one key per process
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
        _state.update(pid=os.getpid(), loop=loop, engine=engine, db=make_sessionmaker(engine))
    return _state


def send_sms(items: list[tuple[int, int]]) -> None:
    """Hand committed outbox rows to the send jobs (a lost enqueue is caught by the outbox sweep)."""
    if not items:
        return
    from enerlectra.jobs import SMS, enqueue_sends, make_queue

    queue = make_queue(settings().redis_url, settings().queue_name, SMS)
    try:
        enqueue_sends(queue, items)
    finally:
        queue.connection.close()


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
