"""Deposit round trip per provider: from `Payments.deposit` to the wallet credited.

    .venv/bin/python -m bench.payments --deposits 100

The four fake providers run in a process of their own and approve at once; the app (embedded Redis,
SQLite) takes their callbacks in this process. Deposits go one at a time. What differs is how a callback
becomes money:
  mtn      callback (a prompt) -> GET status with a cached token -> settle       (the baseline)
  airtel   callback with its HMAC hash checked -> GET enquiry -> settle
  pawapay  callback -> GET /v2/deposits/{id} -> settle
  azampay  callback whose RSA-SHA256 signature is verified -> settle (no status query exists)
Prints p50/p99 per provider and each p50 as a ratio to MTN's in the same run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

NUMBERS = {"mtn": "+260961700001", "airtel": "+260971700002", "pawapay": "+260951700003",
           "azampay": "+255754700004"}
AMOUNT = {"mtn": 5000, "airtel": 5000, "pawapay": 5000, "azampay": 150000}


def fakes(callback_base: str):
    from payments.sandboxes.airtel import FakeAirtel
    from payments.sandboxes.azampay import FakeAzamPay
    from payments.sandboxes.mtn import FakeMtn
    from payments.sandboxes.pawapay import FakePawaPay

    return {"mtn": FakeMtn(decide_after=0.0),
            "airtel": FakeAirtel(decide_after=0.0, callback_key="bench-key",
                                 callback_url=f"{callback_base}/payments/airtel/callback"),
            "pawapay": FakePawaPay(decide_after=0.0, callback_url=f"{callback_base}/payments/pawapay/callback"),
            "azampay": FakeAzamPay(decide_after=0.0, callback_url=f"{callback_base}/payments/azampay/callback")}


def serve_fakes(ports: dict[str, int], callback_base: str, key_file: str) -> None:
    from payments.sandboxes.base import running

    async def main() -> None:
        boxes = fakes(callback_base)
        Path(key_file).write_text(boxes["azampay"].public_pem)
        async with running(boxes["mtn"], ports["mtn"]), running(boxes["airtel"], ports["airtel"]), \
                running(boxes["pawapay"], ports["pawapay"]), running(boxes["azampay"], ports["azampay"]):
            await asyncio.Event().wait()
    asyncio.run(main())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(settings, n: int) -> dict[str, list[float]]:
    from aiohttp import web
    from sqlalchemy import select

    from enerlectra.db.migrate import upgrade_async
    from enerlectra.db.models import Payment
    from enerlectra.domain import users
    from enerlectra.domain.phone import parse_msisdn
    from enerlectra.domain.pin_code import hash_user_pin
    from ussd_app import appkeys
    from ussd_app.app import create_app

    await upgrade_async(settings.effective_database_url)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    latencies: dict[str, list[float]] = {}
    try:
        db, payments = app[appkeys.DB], app[appkeys.PAYMENTS]
        for name, number in NUMBERS.items():
            user = await users.register(db, parse_msisdn(number), "Bench", "en", hash_user_pin("4826", 16))
            assert payments.provider_for(number) == name, (number, payments.provider_for(number))
            latencies[name] = []
            for _ in range(n + 5):                        # the first five warm the token and the key up
                started = time.perf_counter()
                reference = (await payments.deposit(user, AMOUNT[name], key=uuid.uuid4().hex)).reference
                while True:
                    async with db() as s:
                        state = await s.scalar(select(Payment.state).where(Payment.reference == reference))
                    if state == "succeeded":
                        break
                    assert state in ("submitted", "pending"), (name, state)
                    await asyncio.sleep(0.001)
                latencies[name].append((time.perf_counter() - started) * 1000)
            latencies[name] = latencies[name][5:]
    finally:
        await runner.cleanup()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deposits", type=int, default=100)
    parser.add_argument("--serve-fakes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        spec = json.loads(args.serve_fakes)
        serve_fakes(spec["ports"], spec["callback"], spec["key_file"])
        return
    from enerlectra.embedded_redis import EmbeddedRedis
    from enerlectra.ports import free_port
    from enerlectra.settings import Settings

    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-payments-") as home:
        app_port, key_file = free_port(), str(Path(home) / "azampay.pem")
        ports = {name: free_port() for name in NUMBERS}
        spec = {"ports": ports, "callback": f"http://127.0.0.1:{app_port}", "key_file": key_file}
        fake = subprocess.Popen([sys.executable, "-m", "bench.payments", "--serve-fakes", json.dumps(spec)])
        try:
            with EmbeddedRedis.start(Path(home) / "redis") as redis_server:
                while not Path(key_file).exists():
                    time.sleep(0.05)
                time.sleep(0.5)
                box = fakes("")
                url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
                settings = Settings(
                    home=Path(home), port=app_port, redis_url=redis_server.url, log_level="WARNING",
                    pin_kdf_cost=16, queue_name="bench-payments", payment_daily_limit_minor=10**12,
                    mtn_base_url=url["mtn"], mtn_api_user=box["mtn"].api_user, mtn_api_key=box["mtn"].api_key,
                    mtn_subscription_key=box["mtn"].subscription_key, airtel_base_url=url["airtel"],
                    airtel_client_id=box["airtel"].client_id, airtel_client_secret=box["airtel"].client_secret,
                    airtel_callback_key="bench-key", pawapay_base_url=url["pawapay"],
                    pawapay_token=box["pawapay"].token, azampay_base_url=url["azampay"],
                    azampay_app_name=box["azampay"].app_name, azampay_client_id=box["azampay"].client_id,
                    azampay_client_secret=box["azampay"].client_secret,
                    azampay_public_key=Path(key_file).read_text())
                latencies = asyncio.run(measure(settings, args.deposits))
        finally:
            fake.terminate()
            fake.wait()
    base = statistics.median(latencies["mtn"])
    print(f"deposits per provider: {args.deposits}, one at a time; fakes in their own process; "
          f"{os.cpu_count()} cores; embedded Redis, SQLite")
    for name, values in latencies.items():
        p50, p99 = statistics.median(values), pct(values, 99)
        print(f"{name:8} deposit -> credited  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  p50 {p50 / base:5.2f}x mtn")


if __name__ == "__main__":
    main()
