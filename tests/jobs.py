"""Run queued rq jobs the way a worker would, from async tests (jobs run asyncio.run themselves)."""
from __future__ import annotations

import asyncio

from enerlectra.settings import Settings
from workers.main import run_burst


async def run_jobs(settings: Settings) -> None:
    """Everything queued now, in a thread: the event loop stays free to serve fakes and webhooks."""
    await asyncio.to_thread(run_burst, settings)
