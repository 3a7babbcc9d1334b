"""Malformed input against every webhook: counts of 2xx / 4xx / 5xx per endpoint (issue 16, item 10).

    .venv/bin/python -m bench.fuzz --requests 2000 --seed 1              # in-process: embedded Redis + SQLite
    REDIS_URL=redis://127.0.0.1:6379/11 TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.fuzz --requests 2000 --seed 1          # the machine's Redis + a PG schema
    .venv/bin/python -m bench.fuzz --url http://127.0.0.1:8080 --token T # a running `enerlectra serve`

In-process, the app runs behind a real aiohttp server on a loopback port (so the HTTP parser's limits are
exercised), with the local payment sandboxes configured as `serve` does, a webhook token (callbacks carry it
in the path and get past auth), the per-address webhook limit off, and one registered meter (so readings get
past its secret). It also counts log records at ERROR with a traceback. Tests reuse FAMILIES and ENDPOINTS.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import string
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator, Callable
from urllib.parse import urlencode

import aiohttp

TOKEN = "fuzz-webhook-token"
METER, METER_SECRET = "FUZZ-001", "FUZZ-SECRET-0001"
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str                  # {token} is filled in
    kind: str                  # form | json
    base: Callable[[random.Random], dict]


def _sid(rng: random.Random) -> str:
    return f"ATUid_fuzz_{rng.getrandbits(64):016x}"


def _msisdn(rng: random.Random) -> str:
    return f"+26097{rng.randrange(10**6, 10**7)}"


def _ussd(rng):
    return {"sessionId": _sid(rng), "phoneNumber": _msisdn(rng), "serviceCode": "*123#",
            "networkCode": "64502", "text": rng.choice(["", "1", "1*2", "5*1*2.0"])}


def _events(rng):
    return {"sessionId": _sid(rng), "phoneNumber": _msisdn(rng), "serviceCode": "*123#",
            "networkCode": "64502", "status": "Success", "cost": "ZMW 0.10", "durationInMillis": "12000",
            "hopsCount": "3",
            "input": "1*2", "lastAppResponse": "END Bye", "errorMessage": "", "date": "2026-11-29 10:00:00"}


def _inbound(rng):
    return {"id": f"fuzz-{rng.getrandbits(64):x}", "from": _msisdn(rng), "to": "21212", "text": "HELP",
            "date": "2026-11-29 10:00:00", "linkId": f"link-{rng.getrandbits(32):x}", "networkCode": "64502"}


def _delivery(rng):
    return {"id": f"ATXid_{rng.getrandbits(64):x}", "status": "Success", "phoneNumber": _msisdn(rng),
            "networkCode": "64502", "retryCount": "0", "failureReason": ""}


def _meter(rng):
    when = datetime.now(timezone.utc) - timedelta(seconds=rng.randrange(1, 3600))    # within the age window
    return {"meter": METER, "export_wh": rng.randrange(0, 10**6), "import_wh": 0,
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _mtn(rng):
    return {"externalId": f"ref-{rng.getrandbits(64):x}", "amount": "100", "currency": "ZMW",
            "payer": {"partyIdType": "MSISDN", "partyId": "260961234567"}, "status": "SUCCESSFUL"}


def _airtel(rng):
    return {"transaction": {"id": f"ref-{rng.getrandbits(64):x}", "message": "ok", "status_code": "TS",
                            "airtel_money_id": "A1"}, "hash": "x"}


def _pawapay(rng):
    return {"depositId": f"ref-{rng.getrandbits(64):x}", "status": "COMPLETED", "amount": "15",
            "currency": "ZMW", "created": "2026-11-29T10:00:00Z"}


def _azampay(rng):
    return {"msisdn": "255712345678", "amount": "1000", "message": "ok",
            "utilityref": f"ref-{rng.getrandbits(64):x}", "operator": "Mpesa", "reference": "R1",
            "transactionstatus": "success", "submerchantAcc": ""}


ENDPOINTS = [
    Endpoint("ussd", "POST", "/ussd/africastalking", "form", _ussd),
    Endpoint("ussd events", "POST", "/ussd/africastalking/events", "form", _events),
    Endpoint("sms inbound", "POST", "/sms/africastalking/inbound", "form", _inbound),
    Endpoint("sms delivery", "POST", "/sms/africastalking/delivery", "form", _delivery),
    Endpoint("meter readings", "POST", "/meters/readings", "json", _meter),
    *[Endpoint(f"{p} callback", "POST", f"/payments/{p}/callback/{{token}}", "json", base)
      for p, base in (("mtn", _mtn), ("airtel", _airtel), ("pawapay", _pawapay), ("azampay", _azampay))],
    Endpoint("mtn callback (PUT)", "PUT", "/payments/mtn/callback/{token}", "json", _mtn),
]


@dataclass
class Probe:
    body: bytes
    headers: dict[str, str]


def _encode(ep: Endpoint, data: dict, content_type: str | None = None) -> Probe:
    if ep.kind == "form":
        return Probe(urlencode(data).encode(), {"Content-Type": content_type or FORM})
    return Probe(json.dumps(data, allow_nan=True).encode(), {"Content-Type": content_type or JSON})


def _fields(data: dict) -> list[tuple[dict, str]]:
    """(container, key) for every scalar field, nested ones included."""
    out = []
    for key, value in data.items():
        out.extend(_fields(value) if isinstance(value, dict) else [(data, key)])
    return out


def _pick(rng: random.Random, data: dict) -> tuple[dict, str]:
    return rng.choice(_fields(data))


# -- the families ---------------------------------------------------------------------------------------

def random_bytes(rng, ep):
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 16, 300, 3000])))
    return Probe(body, {"Content-Type": rng.choice([FORM, JSON, "application/octet-stream"])})


def deep_json(rng, ep):
    depth = rng.choice([1000, 5000, 20000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    nested = opener * depth + "1" + closer * depth
    if ep.kind == "form":             # the depth inside a field, or the whole body as JSON
        data = ep.base(rng)
        box, key = _pick(rng, data)
        box[key] = nested
        return rng.choice([_encode(ep, data), Probe(nested.encode(), {"Content-Type": JSON})])
    data = ep.base(rng)
    box, key = _pick(rng, data)
    return Probe(json.dumps(data).replace(json.dumps(box[key]), nested, 1).encode(), {"Content-Type": JSON})


HUGE = ["inf", "-inf", "nan", "Infinity", "1e20", "-1e20", "1e400", "99999999999999999999999", "-1",
        str(2**63), str(10**4000)]


def huge_numbers(rng, ep):
    data = ep.base(rng)
    box, key = _pick(rng, data)
    raw = rng.choice(HUGE)
    if ep.kind == "form":
        data[key] = raw
        return _encode(ep, data)
    text = json.dumps(data).replace(json.dumps(box[key]), raw, 1)
    return Probe(text.encode(), {"Content-Type": JSON})


def nul_bytes(rng, ep):
    data = ep.base(rng)
    box, key = _pick(rng, data)
    box[key] = f"{box[key]}\x00{rng.choice(['', 'x', chr(0)])}"
    return _encode(ep, data)


def over_long(rng, ep):
    data = ep.base(rng)
    box, key = _pick(rng, data)
    box[key] = rng.choice(string.ascii_letters + string.digits) * rng.choice([129, 300, 5000, 70_000])
    return _encode(ep, data)


def wrong_types(rng, ep):
    data = ep.base(rng)
    box, key = _pick(rng, data)
    if ep.kind == "form":             # a repeated key, a value that is a file, or a value of bytes
        return rng.choice([
            Probe((urlencode(data) + "&" + urlencode({key: "again"})).encode(), {"Content-Type": FORM}),
            Probe(urlencode(data).encode() + b"&" + key.encode() + b"=%FF%FE", {"Content-Type": FORM}),
        ])
    box[key] = rng.choice([[1, 2], {"x": None}, None, True, 12.5, -3, ""])
    if rng.random() < 0.3:
        return Probe(json.dumps(rng.choice([[data], "a string", 42, None])).encode(), {"Content-Type": JSON})
    return _encode(ep, data)


def missing_fields(rng, ep):
    data = ep.base(rng)
    for box, key in rng.sample(_fields(data), k=rng.randint(1, len(_fields(data)))):
        box.pop(key, None)
    return rng.choice([_encode(ep, data), Probe(b"", {"Content-Type": FORM if ep.kind == "form" else JSON})])


DATES = ["0001-01-01 00:00:00", "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+02:00", "99999-01-01T00:00:00Z",
         "9999-12-31T23:59:59+14:00",
         "1900-01-01T00:00:00-12:00", "2026-13-45T25:61:61Z", "", "now", "1e20"]


def bad_dates(rng, ep):
    data = ep.base(rng)
    key = next((k for k in ("timestamp", "date", "created") if k in data), None) or _pick(rng, data)[1]
    data[key] = rng.choice(DATES)
    return _encode(ep, data)


def big_header(rng, ep):
    probe = _encode(ep, ep.base(rng))
    probe.headers["X-Padding"] = "a" * rng.choice([8200, 9000, 20_000])
    return probe


def wrong_content_type(rng, ep):
    data = ep.base(rng)
    if ep.kind == "form":
        return rng.choice([Probe(json.dumps(data).encode(), {"Content-Type": JSON}),
                           Probe(urlencode(data).encode(), {"Content-Type": "text/plain"}),
                           Probe(b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"})])
    return rng.choice([Probe(urlencode(_flat(data)).encode(), {"Content-Type": FORM}),
                       Probe(json.dumps(data).encode(), {"Content-Type": "text/html; charset=utf-9"}),
                       Probe(json.dumps(data).encode().decode().encode("utf-16"), {"Content-Type": JSON})])


def _flat(data: dict) -> dict:
    return {key: json.dumps(value) if isinstance(value, dict) else value for key, value in data.items()}


FAMILIES: dict[str, Callable[[random.Random, Endpoint], Probe]] = {
    f.__name__: f for f in (random_bytes, deep_json, huge_numbers, nul_bytes, over_long, wrong_types,
                            missing_fields, bad_dates, big_header, wrong_content_type)}


# -- the driver -----------------------------------------------------------------------------------------

async def send(http: aiohttp.ClientSession, url: str, ep: Endpoint, probe: Probe, token: str) -> int:
    headers = {**probe.headers, "X-Webhook-Token": token, "X-Meter-Secret": METER_SECRET}
    target = url + ep.path.format(token=token)
    try:
        async with http.request(ep.method, target, data=probe.body, headers=headers) as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return 0                                        # the connection dropped: counted apart


async def drive(url: str, token: str, requests: int, seed: int, concurrency: int = 4) -> dict:
    rng = random.Random(seed)
    plan = [(ENDPOINTS[i % len(ENDPOINTS)], rng.choice(list(FAMILIES))) for i in range(requests)]
    counts: dict[str, Counter] = defaultdict(Counter)
    fives: list[tuple[str, str]] = []
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def one(ep, family, probe):
            async with gate:
                status = await send(http, url, ep, probe, token)
            bucket = "dropped" if status == 0 else f"{status // 100}xx"
            counts[ep.name].update(["requests", bucket])
            if status >= 500 or status == 0:
                fives.append((ep.name, family))
        await asyncio.gather(*(one(ep, fam, FAMILIES[fam](rng, ep)) for ep, fam in plan))
    return {"counts": counts, "fives": Counter(fives)}


class TracebackCounter(logging.Handler):
    """Log records at ERROR or above that carry a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += record.exc_info is not None


@contextlib.asynccontextmanager
async def in_process() -> AsyncIterator[str]:
    """The app on a loopback port: the machine's Redis (REDIS_URL) or an embedded one, a PostgreSQL schema
    (TEST_DATABASE_URL) or a SQLite file."""
    import os

    from aiohttp import web

    from enerlectra.embedded_redis import EmbeddedRedis
    from enerlectra.ports import free_port
    from enerlectra.settings import Settings
    from payments.sandboxes import local as local_payments
    from tests.databases import fresh_database
    from ussd_app import appkeys
    from ussd_app.app import create_app

    with tempfile.TemporaryDirectory(prefix="enerlectra-fuzz-") as tmp:
        home = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            redis_url = os.environ.get("REDIS_URL")
            if not redis_url:
                redis_url = stack.enter_context(EmbeddedRedis.start(home / "redis")).url
            url, schema = await stack.enter_async_context(fresh_database(home, "fuzz"))
            port = free_port()
            settings = Settings(home=home / "home", redis_url=redis_url, redis_prefix=f"fuzz:{port}:",
                                queue_name=f"fuzz-{port}", database_url=url, database_schema=schema,
                                webhook_token=TOKEN, rate_webhook_per_ip=0, pin_kdf_cost=16,
                                ledger_key="fuzz-" + "k" * 40,
                                public_base_url=f"http://127.0.0.1:{port}")
            settings, boxes = local_payments.plan(settings, auto=True)
            await stack.enter_async_context(local_payments.serving(boxes))
            app = create_app(settings)
            runner = web.AppRunner(app)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await _register_meter(app[appkeys.DB])
            yield f"http://127.0.0.1:{port}"


async def _register_meter(db) -> None:
    from enerlectra.domain import meters, users
    from enerlectra.domain.phone import parse_msisdn

    user = await users.register(db, parse_msisdn("+260971999001"), "Fuzz", "en", "x")
    async with db() as s, s.begin():
        await meters.register(s, user, METER, METER_SECRET, 0, 0,
                              now=datetime.now(timezone.utc) - timedelta(hours=2))     # before every reading


def table(result: dict) -> str:
    rows = [f"{'endpoint':<22}{'requests':>9}{'2xx':>7}{'4xx':>7}{'5xx':>7}{'dropped':>9}"]
    total = Counter()
    for name in [ep.name for ep in ENDPOINTS if ep.name in result["counts"]]:
        c = result["counts"][name]
        rows.append(f"{name:<22}{c['requests']:>9}{c['2xx']:>7}{c['4xx']:>7}{c['5xx']:>7}{c['dropped']:>9}")
        total.update(c)
    rows.append(f"{'total':<22}{total['requests']:>9}{total['2xx']:>7}{total['4xx']:>7}{total['5xx']:>7}"
                f"{total['dropped']:>9}")
    if result["fives"]:
        rows.append("5xx or dropped by endpoint and family: " + ", ".join(
            f"{ep}/{fam} {n}" for (ep, fam), n in sorted(result["fives"].items())))
    if "tracebacks" in result:
        rows.append(f"ERROR log records with a traceback: {result['tracebacks']}")
    return "\n".join(rows)


async def main(args) -> None:
    if args.url:
        result = await drive(args.url.rstrip("/"), args.token, args.requests, args.seed, args.concurrency)
    else:
        tracebacks = TracebackCounter()
        logging.getLogger().addHandler(tracebacks)
        logging.getLogger().setLevel(logging.WARNING)
        if args.show_log:
            logging.getLogger().addHandler(logging.StreamHandler())
        async with in_process() as url:
            result = await drive(url, TOKEN, args.requests, args.seed, args.concurrency)
        result["tracebacks"] = tracebacks.count
    print(table(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--url", help="a running serve (default: the app in-process)")
    parser.add_argument("--token", default="", help="its WEBHOOK_TOKEN")
    parser.add_argument("--show-log", action="store_true", help="print the app's WARNING and ERROR lines")
    asyncio.run(main(parser.parse_args()))
