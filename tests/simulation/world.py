"""The simulated world: the app in-process on a real port, real Redis, real SQL, and the fakes of every provider.

One `World` per run: its own database (a SQLite file or a PostgreSQL schema), its own Redis prefix and rq queue,
fake MTN MoMo, Airtel Money and pawaPay that call the app back, and a fake Africa's Talking the SMS jobs send
through. The world posts hops and SMS the way the aggregator does and watches every answer (status, budget, the
END of an ended session, the refusal of another number); `journeys.py` says what each step does with it.
"""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator

import redis
from aiohttp.test_utils import TestClient, TestServer

from enerlectra import faults, i18n
from enerlectra.domain import ledger, outbox
from enerlectra.domain.advisor import questions
from enerlectra.domain.market import book, by_sms
from enerlectra.jobs import KINDS, queue_name
from enerlectra.ports import free_port
from enerlectra.settings import Settings
from enerlectra.text.gsm7 import is_gsm7, screen_units
from payments.sandboxes.airtel import FakeAirtel
from payments.sandboxes.base import running
from payments.sandboxes.mtn import FakeMtn
from payments.sandboxes.pawapay import FakePawaPay
from simulator.fake_at import FakeAT
from tests.databases import fresh_database
from ussd_app import appkeys
from ussd_app.app import create_app

DECIDE_AFTER = 0.02                       # seconds before a fake provider decides (and calls back)
LEDGER_KEY = "simulation-ledger-key-" + "5" * 43      # the MAC chain's key: one per world, never a real one
KDF_COST = 2**12             # scrypt N: a PIN check takes milliseconds, as in production (tests elsewhere use 16)
BUSY = "Sorry, we are busy. Please dial again."
NOT_YOURS = "Sorry, this session is not yours. Please dial again."
CLOCKS = (outbox, book, by_sms, questions)        # every module whose `now()` the domain reads
REAL_NOW = {module: module.now for module in CLOCKS}


def sim_settings(home: Path, redis_url: str, prefix: str, db_url: str, schema: str | None) -> Settings:
    """Small limits so the simulated users reach them; a short session lock so a slow provider outlasts it."""
    return Settings(home=home, redis_url=redis_url, redis_prefix=prefix, queue_name="sim-" + prefix.split(":")[1],
                    database_url=db_url, database_schema=schema, pin_kdf_cost=KDF_COST, lock_timeout_ms=1000,
                    lock_wait_ms=3000, payment_limit_minor=30_000, payment_daily_limit_minor=50_000,
                    payment_check_seconds=0, payment_expire_minutes=30, pin_lock_minutes=30,
                    payment_fees="mtn:collection=100,mtn:payout=250,airtel:payout=300,pawapay:payout=200",
                    ledger_key=LEDGER_KEY, **UNLIMITED)


# The rate limits would throttle a simulated user who does in seconds what people do in a day: out of the way.
UNLIMITED = {name: 10**6 for name in ("rate_ussd_sessions_per_msisdn", "rate_ussd_hops_per_msisdn",
                                      "rate_sms_in_per_msisdn", "rate_sms_replies_per_msisdn", "rate_webhook_per_ip",
                                      "rate_status_queries_per_payment")}


@dataclass
class Observed:
    """What the world saw that no SQL query can: replies, statuses, ENDs, and intents to move money."""

    violations: list[str] = field(default_factory=list)
    ended: dict[str, tuple[str, int]] = field(default_factory=dict)     # sid -> (END wire, Redis epoch)
    texts: dict[str, set[str]] = field(default_factory=dict)            # sid -> texts the owner sent
    owners: dict[str, str] = field(default_factory=dict)                # sid -> msisdn that dialled
    intents: dict[str, int] = field(default_factory=lambda: {"payment": 0, "transfer": 0, "order": 0,
                                                             "contribution": 0})
    epoch: int = 0                                                      # bumped whenever Redis loses our keys
    refusals: frozenset[str] = frozenset()


class World:
    def __init__(self, seed: int, settings: Settings, client: TestClient, fakes: dict, at: FakeAT):
        self.seed, self.settings, self.client, self.fakes, self.at = seed, settings, client, fakes, at
        self.seen = Observed(refusals=_in_every_language(NOT_YOURS))
        self.busy = _in_every_language(BUSY)
        self.clock_shift = timedelta(0)
        self.registers: dict[int, list[int]] = {}          # user -> their meter's (export, import) Wh so far
        self.counter = 0

    @property
    def db(self):
        return self.client.app[appkeys.DB]

    def next_id(self, what: str) -> str:
        self.counter += 1
        return f"sim{self.seed}-{what}-{self.counter}"

    def violate(self, what: str) -> None:
        self.seen.violations.append(what)

    # -- USSD ----------------------------------------------------------------------------------------

    async def hop(self, sid: str, text: str, msisdn: str) -> str:
        form = {"sessionId": sid, "phoneNumber": msisdn, "serviceCode": "*123#", "networkCode": "64501",
                "text": text}
        resp = await self.client.post("/ussd/africastalking", data=form)
        wire = await resp.text()
        self._watch_hop(sid, text, msisdn, resp.status, wire)
        return wire

    def _watch_hop(self, sid: str, text: str, msisdn: str, status: int, wire: str) -> None:
        seen = self.seen
        if status >= 500:
            return self.violate(f"USSD hop answered {status}: {wire[:80]}")
        if not wire.startswith(("CON ", "END ")) or not is_gsm7(wire[4:]) or screen_units(wire[4:]) > 160:
            return self.violate(f"screen not CON/END within 160 GSM-7: {wire!r}")
        owner = seen.owners.setdefault(sid, msisdn)
        if owner != msisdn:
            if wire[4:] not in seen.refusals:
                self.violate(f"a hop from {msisdn} on {owner}'s session {sid} was answered: {wire[:60]!r}")
            return
        ended = seen.ended.get(sid)
        if ended is not None and ended[1] == seen.epoch and text not in seen.texts.get(sid, ()):
            if wire != ended[0]:
                self.violate(f"session {sid} ended with {ended[0][:50]!r}, a later hop got {wire[:50]!r}")
        elif wire.startswith("END ") and wire[4:] not in self.busy and text not in seen.texts.get(sid, ()):
            seen.ended[sid] = (wire, seen.epoch)
        seen.texts.setdefault(sid, set()).add(text)

    def intend(self, kind: str, sid: str, text: str) -> None:
        """The owner sends a money hop: at most one movement may come of each (session, text)."""
        if text not in self.seen.texts.get(sid, ()):
            self.seen.intents[kind] += 1

    # -- SMS -----------------------------------------------------------------------------------------

    async def sms(self, msisdn: str, text: str, provider_id: str | None = None) -> int:
        form = {"date": "2026-11-29 10:00:00", "from": msisdn, "id": provider_id or self.next_id("sms"),
                "text": text, "to": "21212", "networkCode": "64501"}
        resp = await self.client.post("/sms/africastalking/inbound", data=form)
        if resp.status >= 500:
            self.violate(f"inbound SMS {text!r} answered {resp.status}")
        return resp.status

    # -- faults --------------------------------------------------------------------------------------

    async def lose_redis(self) -> None:
        """What a Redis restart without persistence does to this world: sessions, tombstones, queued jobs."""
        r = self.client.app[appkeys.REDIS]
        for pattern in (f"{self.settings.redis_prefix}*", f"rq:*{self.settings.queue_name}*"):
            keys = [k async for k in r.scan_iter(match=pattern, count=500)]
            if keys:
                await r.delete(*keys)
        self.seen.epoch += 1

    def shift_clock(self, minutes: int) -> None:
        self.clock_shift += timedelta(minutes=minutes)
        shift = self.clock_shift
        for module in CLOCKS:
            module.now = lambda: datetime.now(timezone.utc) + shift

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.clock_shift

    async def quiesce(self) -> None:
        """Let every decision and callback the fakes have scheduled happen (so a step's effects are settled)."""
        for _ in range(50):
            tasks = [t for f in (*self.fakes.values(), self.at) for t in f._tasks]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)


def _in_every_language(msgid: str) -> frozenset[str]:
    i18n.load_all()
    found = set()
    for code in i18n.LANGUAGES:
        with i18n.language(code):
            found.add(i18n._(msgid))
    return frozenset(found)


# -- making one --------------------------------------------------------------------------------------

def forget_redis(url: str, settings: Settings) -> None:
    """Remove everything this world left in Redis (its prefix, its rq queue and workers)."""
    client = redis.Redis.from_url(url)
    for pattern in (f"{settings.redis_prefix}*", f"rq:*{settings.queue_name}*"):
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
    client.srem("rq:queues", *(f"rq:queue:{queue_name(settings.queue_name, kind)}" for kind in KINDS))
    ours = [m for m in client.smembers("rq:workers") if settings.queue_name.encode() in m]
    if ours:
        client.srem("rq:workers", *ours)
    client.close()


@contextlib.asynccontextmanager
async def open_world(seed: int, redis_url: str, workdir: Path) -> AsyncIterator[World]:
    fakes = {"mtn": FakeMtn(decide_after=DECIDE_AFTER), "pawapay": FakePawaPay(decide_after=DECIDE_AFTER),
             "airtel": FakeAirtel(decide_after=DECIDE_AFTER, callback_key="portal-key")}
    at = FakeAT()
    port = free_port()
    async with contextlib.AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(running(fake)) for name, fake in fakes.items()}
        at_url = await stack.enter_async_context(running(at))
        db_url, schema = await stack.enter_async_context(fresh_database(workdir, "sim"))
        settings = _wired(sim_settings(workdir / "home", redis_url, f"sim:{uuid.uuid4().hex[:12]}:", db_url, schema),
                          fakes, urls, at, at_url, port)
        client = TestClient(TestServer(create_app(settings), port=port))
        await client.start_server()
        at.report_url = str(client.make_url("/sms/africastalking/delivery"))
        world = World(seed, settings, client, fakes, at)
        key_before = ledger.use_key(LEDGER_KEY.encode())
        try:
            yield world
        finally:
            await world.quiesce()
            await client.close()
            ledger.use_key(key_before)
            faults.disarm()
            for module in CLOCKS:
                module.now = REAL_NOW[module]
            forget_redis(redis_url, settings)


def _wired(settings: Settings, fakes: dict, urls: dict, at: FakeAT, at_url: str, port: int) -> Settings:
    mtn, airtel, pawapay = fakes["mtn"], fakes["airtel"], fakes["pawapay"]
    airtel.callback_url = f"http://127.0.0.1:{port}/payments/airtel/callback"
    pawapay.callback_url = f"http://127.0.0.1:{port}/payments/pawapay/callback"
    return settings.with_(
        mtn_base_url=urls["mtn"], mtn_api_user=mtn.api_user, mtn_api_key=mtn.api_key,
        mtn_subscription_key=mtn.subscription_key, airtel_base_url=urls["airtel"], airtel_client_id=airtel.client_id,
        airtel_client_secret=airtel.client_secret, airtel_callback_key=airtel.callback_key,
        pawapay_base_url=urls["pawapay"], pawapay_token=pawapay.token, public_base_url=f"http://127.0.0.1:{port}",
        at_username=at.username, at_api_key=at.api_key, at_api_base_url=at_url)
