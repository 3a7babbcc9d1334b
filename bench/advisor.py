"""Advisor latency: from a question arriving by SMS to its answer queued in the outbox.

    .venv/bin/python -m bench.advisor --questions 200

The fake Messages API runs in its own process; the app serves the SMS webhook in this process; one
`enerlectra worker` process answers (embedded Redis, SQLite). Questions go one at a time, so each
latency is the pipeline's, not a queue's. Measured in one run:
  baseline   the bare anthropic SDK: one `messages.create` to the same fake server, nothing else
  claude     ASK by SMS -> webhook -> SQL (limit, question row) -> rq -> worker: user facts from SQL,
             the SDK call, fitting to 3 GSM-7 segments, answer row + outbox row committed
  offline    the same pipeline with the offline answer bank (no API key)
Prints p50/p99 for each, the ratio of each p50 to the baseline's, and token counts per answer.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.fakes import fake_and_redis

QUESTION = "ASK should I sell my spare kWh tonight or keep them in the battery"


def serve_fake(port: int) -> None:
    from simulator.fake_claude import FakeClaude, running

    async def main() -> None:
        async with running(FakeClaude(), port=port):
            await asyncio.Event().wait()
    asyncio.run(main())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def baseline(claude_url: str, n: int) -> list[float]:
    import anthropic

    from enerlectra.domain.advisor import prompts
    from enerlectra.domain.advisor.context import UserFacts
    from simulator.fake_claude import FakeClaude

    system = prompts.system_prompt("trading", "en", UserFacts("ZM", "ZMW", "K100.00", "3.5 kWh"), 440)
    latencies = []
    async with anthropic.AsyncAnthropic(api_key=FakeClaude.api_key, base_url=claude_url) as api:
        for _ in range(n):
            started = time.perf_counter()
            await api.messages.create(model="claude-haiku-5-5", max_tokens=300, system=system,
                                      messages=[{"role": "user", "content": QUESTION[4:]}])
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def pipeline(settings, n: int) -> tuple[list[float], list[tuple[int, int]]]:
    """Latencies (ms) from webhook POST to the outbox row, and (input, output) tokens per answer."""
    from aiohttp import web
    from sqlalchemy import select

    from enerlectra.db.engine import make_engine, make_sessionmaker
    from enerlectra.db.migrate import upgrade_async
    from enerlectra.db.models import AdvisorQuestion
    from enerlectra.domain import users
    from enerlectra.domain.phone import parse_msisdn
    from enerlectra.domain.pin_code import hash_user_pin
    from enerlectra.ports import free_port
    from ussd_app.app import create_app

    await upgrade_async(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    db = make_sessionmaker(engine)
    numbers = [f"+26097{2000000 + i:07d}" for i in range(n)]      # one question each: the daily limit stays out
    port = free_port()
    app = create_app(settings.with_(port=port))    # first: it sets the ledger key, which seals PINs
    for number in numbers:
        await users.register(db, parse_msisdn(number), "Bench", "en", hash_user_pin("4826", 16))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    worker = subprocess.Popen([sys.executable, "-m", "ussd_app.cli", "worker"],
                              env={**os.environ, **settings.worker_env(), "LOG_LEVEL": "WARNING"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies, tokens = [], []
    try:
        async with aiohttp.ClientSession() as http:
            for i, number in enumerate(numbers):
                started = time.perf_counter()
                form = {"from": number, "to": "21212", "text": QUESTION, "id": f"bench-{i}"}
                async with http.post(f"http://127.0.0.1:{port}/sms/africastalking/inbound", data=form) as resp:
                    assert resp.status == 200, await resp.text()
                while True:                                   # until the answer's outbox row is committed
                    async with db() as s:
                        row = (await s.execute(select(AdvisorQuestion.outbox_id, AdvisorQuestion.input_tokens,
                                                      AdvisorQuestion.output_tokens)
                                               .where(AdvisorQuestion.request_key == f"sms:bench-{i}"))).first()
                    if row is not None and row[0] is not None:
                        break
                    await asyncio.sleep(0.002)
                latencies.append((time.perf_counter() - started) * 1000)
                tokens.append((row[1], row[2]))
    finally:
        worker.terminate()
        worker.wait()
        await runner.cleanup()
        await engine.dispose()
    return latencies, tokens


def run(redis_url: str, claude_url: str | None, n: int) -> tuple[list[float], list[tuple[int, int]]]:
    from enerlectra.settings import Settings
    from simulator.fake_claude import FakeClaude

    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-advisor-") as home:
        settings = Settings(home=Path(home), redis_url=redis_url, queue_name=f"bench-{Path(home).name}",
                            log_level="WARNING", pin_kdf_cost=16,
                            anthropic_api_key=FakeClaude.api_key if claude_url else None,
                            anthropic_base_url=claude_url)
        return asyncio.run(pipeline(settings, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return
    n = args.questions
    with fake_and_redis("bench.advisor") as (claude_url, redis_url):
        rows = [("baseline: bare SDK call to the fake", asyncio.run(baseline(claude_url, n)), [])]
        rows.append(("ASK by SMS -> answer queued (claude)", *run(redis_url, claude_url, n)))
        rows.append(("ASK by SMS -> answer queued (offline)", *run(redis_url, None, n)))
    base = statistics.median(rows[0][1])
    print(f"questions per run: {n}, one at a time; fake Messages API in its own process; {os.cpu_count()} cores")
    for label, latencies, _tokens in rows:
        p50, p99 = statistics.median(latencies), pct(latencies, 99)
        print(f"{label:40} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  p50 {p50 / base:5.1f}x baseline")
    tokens = rows[1][2]
    ins, outs = [t[0] for t in tokens], [t[1] for t in tokens]
    print(f"tokens per Claude answer: input {min(ins)}-{max(ins)} (mean {statistics.mean(ins):.0f}), "
          f"output {min(outs)}-{max(outs)} (mean {statistics.mean(outs):.0f})")


if __name__ == "__main__":
    main()
