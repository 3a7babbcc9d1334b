"""Issue 14's attacks, re-run against a running `enerlectra serve`: HTTP in, read-only counts from its SQL.

    enerlectra serve                                   # any REDIS_URL / DATABASE_URL; same env for this:
    .venv/bin/python -m bench.attacks --url http://127.0.0.1:8080 [--only pin_guesses,after_end]

Each attack uses numbers of its own (random MTN Zambia numbers), prints one line: what was done and what came of
it. Wallets are funded with `enerlectra ledger credit` (the audited operator credit) in this environment, so run
it with the server's environment (ENERLECTRA_HOME, DATABASE_URL, LEDGER_KEY). `--redis-url` (the server's) lets
the Redis-loss attack drop the server's sessions (only keys under the `enerlectra:` prefix).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.models import JournalEntry, MarketOrder, Payment, SmsOutbox, User
from enerlectra.settings import Settings

PIN = "4826"


def new_number() -> str:
    return f"+26096{random.randrange(10**6, 10**7)}"


class Handset:
    """One phone talking Africa's Talking's wire format to the server."""

    def __init__(self, http: aiohttp.ClientSession, url: str, msisdn: str):
        self.http, self.url, self.msisdn = http, url, msisdn
        self.sid, self.inputs = "", []

    async def dial(self) -> str:
        self.sid, self.inputs = f"ATUid_attack_{uuid.uuid4().hex}", []
        return await self.post()

    async def press(self, *keys: str) -> str:
        reply = ""
        for key in keys:
            self.inputs.append(key)
            reply = await self.post()
        return reply

    async def post(self, msisdn: str | None = None) -> str:
        form = {"sessionId": self.sid, "phoneNumber": msisdn or self.msisdn, "serviceCode": "*123#",
                "networkCode": "64502", "text": "*".join(self.inputs)}
        async with self.http.post(f"{self.url}/ussd/africastalking", data=form) as resp:
            return f"{resp.status} {await resp.text()}"

    async def sms(self, text: str) -> int:
        form = {"from": self.msisdn, "to": "12345", "text": text, "id": uuid.uuid4().hex,
                "date": "2026-11-29 10:00:00"}
        async with self.http.post(f"{self.url}/sms/africastalking/inbound", data=form) as resp:
            return resp.status


async def registered(http, url: str, name: str = "Attacker") -> Handset:
    phone = Handset(http, url, new_number())
    await phone.dial()
    await phone.press("1", name, PIN, PIN)
    return phone


def credit(msisdn: str, amount: str, energy: bool = False) -> None:
    cmd = [sys.executable, "-m", "ussd_app.cli", "ledger", "credit", msisdn, amount, "--reason", "attack test"]
    subprocess.run(cmd + (["--energy"] if energy else []), check=True, capture_output=True)


class Counts:
    """Read-only counts in the server's database."""

    def __init__(self, url: str):
        self.engine = create_async_engine(url)

    async def of(self, query) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(query))

    async def user_id(self, msisdn: str) -> int:
        return await self.of(select(User.id).where(User.msisdn == msisdn))


# -- the attacks --------------------------------------------------------------------------------------------

async def pin_guesses(http, url, counts: Counts, n: int = 100) -> str:
    friend, victim = await registered(http, url, "Chipo"), await registered(http, url, "Bupe")
    credit(victim.msisdn, "100")
    phones = [Handset(http, url, victim.msisdn) for _ in range(n)]

    async def at_pin(phone: Handset) -> None:
        await phone.dial()
        await phone.press("1", "2", "0" + friend.msisdn[4:], "10")

    await asyncio.gather(*(at_pin(p) for p in phones))
    replies = await asyncio.gather(*(p.press(f"{1000 + i}") for i, p in enumerate(phones)))
    evaluated = sum("tries left" in r or "Wrong PIN 3 times" in r for r in replies)
    lock_sms = await counts.of(select(func.count()).select_from(SmsOutbox).where(
        SmsOutbox.msisdn == victim.msisdn, SmsOutbox.kind == "pin-lock"))
    return f"{n} parallel wrong PINs: {evaluated} evaluated, {lock_sms} lock SMS"


async def after_end(http, url, counts: Counts) -> str:
    phone = await registered(http, url)
    await phone.dial()
    await phone.press("2", "1", "50", "1")                    # deposit K50: END "approve the prompt"
    for extra in ("1", "1", "2"):                             # late webhooks with longer text
        phone.inputs.append(extra)
        await phone.post()
    uid = await counts.user_id(phone.msisdn)
    made = await counts.of(select(func.count()).select_from(Payment).where(Payment.user_id == uid))
    return f"deposit then 3 re-posts after END: {made} payment prompt(s)"


async def foreign_number(http, url, counts: Counts) -> str:
    owner, thief = await registered(http, url, "Owner"), await registered(http, url, "Thief")
    credit(owner.msisdn, "100")
    await owner.dial()
    await owner.press("2", "2", "20")                         # at the withdrawal PIN
    owner.inputs.append(PIN)
    reply = await owner.post(msisdn=thief.msisdn)             # the hop comes with another number
    uid = await counts.user_id(owner.msisdn)
    made = await counts.of(select(func.count()).select_from(Payment).where(Payment.user_id == uid))
    return f"another number on the owner's session: {made} withdrawal(s); it saw {reply[:60]!r}"


async def redis_loss(http, url, counts: Counts, redis_url: str | None) -> str:
    if not redis_url:
        return "skipped (no --redis-url)"
    from redis.asyncio import Redis

    friend, sender = await registered(http, url, "Chipo"), await registered(http, url, "Bupe")
    credit(sender.msisdn, "100")
    await sender.dial()
    await sender.press("1", "2", "0" + friend.msisdn[4:], "10", PIN)
    redis = Redis.from_url(redis_url)
    keys = [k async for k in redis.scan_iter(match="enerlectra:ussd:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await sender.post()                                        # the same hop, after Redis lost the session
    sent = await counts.of(select(func.count()).select_from(JournalEntry).where(
        JournalEntry.kind == "transfer", JournalEntry.memo.like(f"{await counts.user_id(sender.msisdn)}>%")))
    return f"send money, Redis sessions dropped, the hop retransmitted: {sent} transfer(s)"


async def daily_limit(http, url, counts: Counts, n: int = 5, amount: str = "5000") -> str:
    phone = await registered(http, url)
    credit(phone.msisdn, "100000")
    phones = [Handset(http, url, phone.msisdn) for _ in range(n)]

    async def at_pin(p: Handset) -> None:
        await p.dial()
        await p.press("2", "2", amount)

    await asyncio.gather(*(at_pin(p) for p in phones))
    replies = await asyncio.gather(*(p.press(PIN) for p in phones))
    uid = await counts.user_id(phone.msisdn)
    made = await counts.of(select(func.count()).select_from(Payment).where(Payment.user_id == uid))
    over = sum("today's limit" in r for r in replies)
    busy = sum("locked" in r for r in replies)      # more PINs at once than tries: run with PIN_MAX_FAILURES>=n
    return (f"{n} withdrawals of K{amount} at once against a K20,000 day: {made} started, {over} refused by the "
            f"limit, {busy} refused for PIN tries in flight")


async def phantom_order(http, url, counts: Counts) -> str:
    phone = await registered(http, url)
    credit(phone.msisdn, "5000", energy=True)
    await phone.dial()
    await phone.press("3", "4", "1", PIN)                      # Settings -> Trade by SMS -> on
    await phone.sms("SELL 5 1.00")
    await phone.dial()
    await phone.press("2")                                     # decline "continue where you left off"
    await phone.press("5", "1", "5", "1.00", "3", PIN)         # the same 5 kWh by USSD
    await phone.sms(f"YES {PIN}")
    uid = await counts.user_id(phone.msisdn)
    empty = await counts.of(select(func.count()).select_from(MarketOrder).where(
        MarketOrder.user_id == uid, MarketOrder.state == "open", MarketOrder.escrow < MarketOrder.remaining_wh))
    return f"SMS SELL, USSD sell of the same kWh, SMS YES: {empty} open offer(s) with no kWh behind them"


async def session_burst(http, url, counts: Counts, n: int = 1000) -> str:
    msisdn, started = new_number(), time.perf_counter()
    phones = [Handset(http, url, msisdn) for _ in range(n)]
    sem = asyncio.Semaphore(50)

    async def dial(p: Handset) -> str:
        async with sem:
            return await p.dial()

    replies = await asyncio.gather(*(dial(p) for p in phones))
    served = sum("Choose your language" in r for r in replies)
    return f"{n} sessions from one number in {time.perf_counter() - started:.1f} s: {served} served"


async def sms_flood(http, url, counts: Counts, n: int = 300) -> str:
    phone = Handset(http, url, new_number())
    sem = asyncio.Semaphore(20)

    async def send() -> int:
        async with sem:
            return await phone.sms("HELP")

    await asyncio.gather(*(send() for _ in range(n)))
    out = await counts.of(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.msisdn == phone.msisdn))
    return f"{n} SMS in from one number: {out} SMS out"


ATTACKS = {"pin_guesses": pin_guesses, "after_end": after_end, "foreign_number": foreign_number,
           "redis_loss": redis_loss, "daily_limit": daily_limit, "phantom_order": phantom_order,
           "session_burst": session_burst, "sms_flood": sms_flood}


async def main(args: argparse.Namespace) -> None:
    counts = Counts(args.database_url or Settings.from_env().effective_database_url)
    chosen = args.only.split(",") if args.only else list(ATTACKS)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for name in chosen:
            extra = (args.redis_url,) if name == "redis_loss" else ()
            try:
                print(f"{name}: {await ATTACKS[name](http, args.url, counts, *extra)}", flush=True)
            except Exception as exc:      # an attack that could not run says so and the rest go on
                print(f"{name}: could not run: {type(exc).__name__}: {exc}", flush=True)
    await counts.engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--database-url", help="the server's DATABASE_URL (default: from this environment)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--only", help="comma-separated attack names")
    asyncio.run(main(parser.parse_args()))
