"""What the Health page asks the world: rq's queues, workers and failed jobs (rq is synchronous: these run in a
thread), and whether each provider's base URL answers at all. Each is one probe the page bounds in time."""
from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timezone
from typing import Sequence

import aiohttp
from rq import Queue, Worker
from rq.job import Job

from enerlectra.redact import redact_url
from enerlectra.settings import Settings
from ussd_app import probes

AT_LIVE, AT_SANDBOX = "https://api.africastalking.com", "https://api.sandbox.africastalking.com"
EXCEPTION_CHARS = 200         # an exception's last line as shown: enough to tell one failure from another
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def queue_rows(queues: dict[str, Queue]) -> list[tuple]:
    """(queue, waiting, running, scheduled, failed) per queue; counts only (no cleanup writes)."""
    return [(q.name, q.count, q.started_job_registry.get_job_count(cleanup=False),
             q.scheduled_job_registry.get_job_count(cleanup=False),
             q.failed_job_registry.get_job_count(cleanup=False)) for q in queues.values()]


def worker_rows(queues: dict[str, Queue]) -> list[tuple]:
    """(worker, state, queues, seconds since its last heartbeat) for each worker on any of our queues."""
    found: dict[str, Worker] = {}
    for queue in queues.values():
        for worker in Worker.all(queue=queue):
            found[worker.name] = worker
    now = datetime.now(timezone.utc)
    rows = []
    for name, worker in sorted(found.items()):
        beat = worker.last_heartbeat
        age = None if beat is None else round((now - beat.replace(tzinfo=beat.tzinfo or timezone.utc))
                                              .total_seconds())
        rows.append((name, worker.get_state(), ", ".join(worker.queue_names()), age))
    return rows


def last_line(text: str | None) -> str:
    """An exception's last line, any URL in it with its password or token hidden (a driver's error may
    quote the URL it was given)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return _URL.sub(lambda m: redact_url(m.group(0)), lines[-1])[:EXCEPTION_CHARS] if lines else ""


def failed_job_rows(queues: dict[str, Queue], limit: int) -> list[tuple]:
    """The newest failed jobs across our queues: (ended, queue, job, function, the exception's last line)."""
    rows = []
    for queue in queues.values():
        # The registry scores a job by when it expires (failure + the same TTL): highest score, newest failure.
        ids = queue.failed_job_registry.get_job_ids(0, limit - 1, desc=True, cleanup=False)
        for job in Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer):
            if job is None:
                continue
            result = job.latest_result()
            rows.append((job.ended_at, queue.name, job.id, job.func_name,
                         last_line(result.exc_string if result is not None else None)))
    rows.sort(key=lambda row: row[0].timestamp() if row[0] else 0.0, reverse=True)
    return rows[:limit]


def provider_urls(settings: Settings) -> list[tuple[str, str | None, str]]:
    """(provider, base URL or None, what None means): the local sandboxes `serve` starts are configured URLs."""
    at = settings.at_api_base_url or (
        (AT_SANDBOX if settings.at_username == "sandbox" else AT_LIVE) if settings.at_username else None)
    unset = "not configured: no local sandbox in this process"
    return [("MTN MoMo", settings.mtn_base_url, unset), ("Airtel Money", settings.airtel_base_url, unset),
            ("pawaPay", settings.pawapay_base_url, unset), ("AzamPay", settings.azampay_base_url, unset),
            ("Africa's Talking SMS", at, "not used: SMS go to the local outbox gateway")]


async def reach(providers: Sequence[tuple[str, str | None, str]]) -> list[tuple]:
    """(provider, URL, state, ms, detail) for each, side by side; any HTTP answer counts as reachable."""
    timeout = aiohttp.ClientTimeout(total=probes.HEALTH_CHECK_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def one(name: str, url: str | None, unset: str) -> tuple:
            if not url:
                return (name, "-", "not configured", None, unset)

            async def head() -> int:
                async with http.head(url, allow_redirects=False) as resp:
                    return resp.status

            started = time.perf_counter()
            state, status = await probes.run(head)
            ms = round((time.perf_counter() - started) * 1000, 1)
            return (name, redact_url(url), state, ms, f"HTTP {status}" if status is not None else "")
        return list(await asyncio.gather(*(one(*p) for p in providers)))
