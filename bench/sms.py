"""Outbox throughput: SMS from the outbox through the real africastalking SDK to the fake AT server.

    .venv/bin/python -m bench.sms --messages 1000

The fake AT server runs in its own process. Measured in one run:
  baseline   the bare SDK: one `SMSService.send` per message, nothing else (the ceiling for one sender)
  outbox     rows queued in SQLite, one rq worker draining them (claim, send, record), for
             - distinct texts (one request per message) and
             - one text to every recipient (batched, up to 100 numbers per request)
             with jobs run in the worker process (the default) and with `enerlectra worker --fork`.
Prints msgs/s for each and its ratio to the baseline.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from africastalking.SMS import SMSService

from bench.fakes import fake_and_redis


def serve_fake(port: int) -> None:
    from simulator.fake_at import FakeAT, running

    async def main() -> None:
        async with running(FakeAT(), port=port):
            await asyncio.Event().wait()
    asyncio.run(main())


def numbers(n: int) -> list[str]:
    return [f"+26097{1000000 + i:07d}" for i in range(n)]


def baseline(at_url: str, n: int) -> float:
    sdk = SMSService("sandbox", "fake-at-key")
    sdk._baseUrl = sdk._contentUrl = at_url + "/version1"
    started = time.perf_counter()
    for i, number in enumerate(numbers(n)):
        sdk.send(f"Receipt {i}: 10.00 ZMW", [number])
    return n / (time.perf_counter() - started)


async def _queue(settings, n: int, same_text: bool) -> None:
    from enerlectra.db.engine import make_engine, make_sessionmaker
    from enerlectra.db.migrate import upgrade_async
    from enerlectra.domain import outbox
    from enerlectra.domain.work import unit_of_work
    from enerlectra.jobs import SMS, enqueue_sends, make_queue

    await upgrade_async(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    db = make_sessionmaker(engine)
    async with unit_of_work(db) as s:        # no sink: this bench enqueues the rows itself, below
        rows = [await outbox.add(s, number, "Vote closes Fri 18:00" if same_text else f"Receipt {i}: 10.00 ZMW",
                                 "bench", essential=True) for i, number in enumerate(numbers(n))]
    await engine.dispose()
    queue = make_queue(settings.redis_url, settings.queue_name, SMS)
    enqueue_sends(queue, outbox.to_dispatch(rows))
    queue.connection.close()


async def _sent(settings) -> int:
    from sqlalchemy import func, select

    from enerlectra.db.engine import make_engine, make_sessionmaker
    from enerlectra.db.models import SmsOutbox

    engine = make_engine(settings.effective_database_url)
    async with make_sessionmaker(engine)() as s:
        count = await s.scalar(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.status == "sent"))
    await engine.dispose()
    return count


def outbox_run(at_url: str, redis_url: str, n: int, same_text: bool, forking: bool) -> float:
    from enerlectra.settings import Settings
    from workers.main import run_burst

    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-sms-") as home:
        settings = Settings(home=Path(home), redis_url=redis_url, queue_name=f"bench-{Path(home).name}",
                            at_username="sandbox", at_api_key="fake-at-key", at_api_base_url=at_url,
                            log_level="WARNING", ledger_key="bench-ledger-key-" + "0" * 32)
        asyncio.run(_queue(settings, n, same_text))
        started = time.perf_counter()
        if forking:
            done = subprocess.run([sys.executable, "-m", "ussd_app.cli", "worker", "--burst", "--fork"],
                                  env={**os.environ, **settings.worker_env()}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            if done.returncode:
                raise RuntimeError(f"worker --fork exited {done.returncode}: {done.stderr[-2000:]}")
        else:
            run_burst(settings)
        elapsed = time.perf_counter() - started
        sent = asyncio.run(_sent(settings))
        if sent != n:
            raise RuntimeError(f"{sent} of {n} sent")
        return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return
    n = args.messages
    with fake_and_redis("bench.sms") as (at_url, redis_url):
        rows = [("baseline: bare SDK, one message a call", baseline(at_url, n))]
        for forking in (False, True):
            kind = "worker --fork (a horse per job)" if forking else "worker (jobs in process)"
            for same_text, label in ((False, "distinct texts"), (True, "one text batched")):
                rate = outbox_run(at_url, redis_url, n, same_text, forking)
                rows.append((f"outbox, {label}, {kind}", rate))
    base = rows[0][1]
    print(f"messages per run: {n}; fake AT in its own process; {os.cpu_count()} cores shared")
    for label, rate in rows:
        print(f"{label:58} {rate:8.0f} msgs/s  {rate / base:6.2f}x baseline")


if __name__ == "__main__":
    main()
