"""Payment jobs: reconcile every payment left open (a lost callback, an ambiguous answer)."""
from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp

from payments import setup as payments_setup
from enerlectra.jobs import SMS, enqueue_sends, make_queue
from workers import runtime

log = logging.getLogger(__name__)


def reconcile_payments() -> dict[str, int]:
    return runtime.run(_reconcile)


async def _reconcile(db) -> dict[str, int]:
    settings = runtime.settings()
    queue = make_queue(settings.redis_url, settings.queue_name, SMS)

    async def dispatch(items: list[tuple[int, int]]) -> None:
        enqueue_sends(queue, items)

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            payments = payments_setup.build(settings, db, http, dispatch)
            counts = await payments.reconcile(timedelta(seconds=settings.payment_check_seconds),
                                              timedelta(minutes=settings.payment_expire_minutes))
    finally:
        queue.connection.close()
    if counts:
        log.info("reconciled payments: %s", counts)
    return counts
