"""Outbox throughput: SMS from the outbox through the real africastalking SDK to the fake AT server.

    .venv/bin/python -m bench.sms --messages 1000 [--rounds 3] [--no-fork] [--check]

The fake AT server runs in its own process. Measured in one run:
  baseline   the bare SDK: one `SMSService.send` per message, nothing else (a new connection each, as the
             SDK does by itself)
  outbox     rows queued in SQLite, one rq worker draining them (claim a batch, send, record), for
             - distinct texts (one request per message) and
             - one text to every recipient (batched, up to 100 numbers per request)
             with jobs run in the worker process (the default) and with `enerlectra worker --fork`.
Prints msgs/s for each, its ratio to the baseline, and the CPU the sender spent per message (all its
threads; the fake's CPU is not counted). The baseline and the in-process distinct-text run alternate for
`--rounds` rounds and the medians are printed: this box is shared, single runs swing by 2x.
`--check` exits 1 when distinct texts in process fall below CHECK_RATIO of the baseline (issue 18: 500 msgs/s
per worker against the bare SDK's 735 on the same box).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


CHECK_RATIO = 500 / 735


@dataclass(frozen=True)
class Rate:
    per_second: float
    cpu_us: float                 # the sender's CPU per message, microseconds


class Clock:
    """Wall time and this process's CPU (children's too, for a `worker --fork` run) from start to stop."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + child.ru_utime + child.ru_stime

    def rate(self, n: int) -> Rate:
        return Rate(n / self.wall, self.cpu / n * 1e6)


def baseline(at_url: str, n: int) -> Rate:
    sdk = SMSService("sandbox", "fake-at-key")
    sdk._baseUrl = sdk._contentUrl = at_url + "/version1"
    with Clock() as clock:
        for i, number in enumerate(numbers(n)):
            sdk.send(f"Receipt {i}: 10.00 ZMW", [number])
    return clock.rate(n)


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


def outbox_run(at_url: str, redis_url: str, n: int, same_text: bool, forking: bool) -> Rate:
    from enerlectra.settings import Settings
    from workers.main import run_burst

    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-sms-") as home:
        settings = Settings(home=Path(home), redis_url=redis_url, queue_name=f"bench-{Path(home).name}",
                            at_username="sandbox", at_api_key="fake-at-key", at_api_base_url=at_url,
                            log_level="WARNING", ledger_key="bench-ledger-key-" + "0" * 32)
        asyncio.run(_queue(settings, n, same_text))
        with Clock() as clock:
            if forking:
                done = subprocess.run([sys.executable, "-m", "ussd_app.cli", "worker", "--burst", "--fork"],
                                      env={**os.environ, **settings.worker_env()}, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
                if done.returncode:
                    raise RuntimeError(f"worker --fork exited {done.returncode}: {done.stderr[-2000:]}")
            else:
                run_burst(settings)
        sent = asyncio.run(_sent(settings))
        if sent != n:
            raise RuntimeError(f"{sent} of {n} sent")
        return clock.rate(n)


def median(rates: list[Rate]) -> Rate:
    return Rate(statistics.median(r.per_second for r in rates), statistics.median(r.cpu_us for r in rates))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating baseline / distinct-text runs")
    parser.add_argument("--no-fork", action="store_true", help="skip the `worker --fork` runs")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {CHECK_RATIO:.2f}x the baseline")
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return 0
    n = args.messages
    with fake_and_redis("bench.sms") as (at_url, redis_url):
        bases, distinct = [], []
        for _ in range(args.rounds):
            bases.append(baseline(at_url, n))
            distinct.append(outbox_run(at_url, redis_url, n, False, False))
        rows = [("baseline: bare SDK, one message a call", median(bases)),
                ("outbox, distinct texts, worker (jobs in process)", median(distinct)),
                ("outbox, one text batched, worker (jobs in process)", outbox_run(at_url, redis_url, n, True, False))]
        for same_text, label in (() if args.no_fork else ((False, "distinct texts"), (True, "one text batched"))):
            rows.append((f"outbox, {label}, worker --fork (a horse per job)",
                         outbox_run(at_url, redis_url, n, same_text, True)))
    base = rows[0][1]
    print(f"messages per run: {n}; rounds: {args.rounds} (medians); fake AT in its own process; "
          f"{os.cpu_count()} cores shared")
    for label, rate in rows:
        print(f"{label:58} {rate.per_second:8.0f} msgs/s  {rate.per_second / base.per_second:6.2f}x baseline"
              f"  {rate.cpu_us:7.0f} us CPU/msg")
    ratio = rows[1][1].per_second / base.per_second
    if args.check and ratio < CHECK_RATIO:
        print(f"CHECK FAILED: distinct texts at {ratio:.2f}x the bare SDK, below {CHECK_RATIO:.2f}x")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
