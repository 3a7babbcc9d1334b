"""Run queued rq jobs the way a worker would, from async tests (jobs run asyncio.run themselves)."""
from __future__ import annotations

import asyncio

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from ussd_app.settings import Settings
from workers import runtime


class ThreadedWorker(SimpleWorker):
    """SimpleWorker in a helper thread: signals can only be handled in the main thread, which pytest owns."""

    death_penalty_class = TimerDeathPenalty          # job timeouts by timer, not SIGALRM

    def _install_signal_handlers(self) -> None:
        pass


def _burst(settings: Settings) -> None:
    runtime.configure(settings)
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
        ThreadedWorker([queue], connection=connection, serializer=JSONSerializer).work(
            burst=True, with_scheduler=False, logging_level="WARNING")
    finally:
        connection.close()


async def run_jobs(settings: Settings) -> None:
    """Everything queued now, in a thread: the event loop stays free to serve fakes and webhooks."""
    await asyncio.to_thread(_burst, settings)


def queued_count(settings: Settings) -> int:
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        return Queue(settings.queue_name, connection=connection, serializer=JSONSerializer).count
    finally:
        connection.close()
