"""What each step does: users' journeys by USSD and SMS, bursts and storms run at once, faults, jobs, the clock.

A journey walks its menu inputs; when a screen refused an input (a bad amount, not enough money) the journey
stops there, as a user would. Its last hop, the one that moves money, may be retransmitted the ways aggregators
do (again, several copies at once, after Redis lost the session, longer after END, from another number).
"""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import redis
from sqlalchemy import func, select

from enerlectra import faults
from enerlectra.db.models import Payment, Proposal, User
from enerlectra.domain import ledger, meters, wallet
from enerlectra.domain.clusters import members as clubs
from enerlectra.jobs import EXPIRE_JOB, JOB_KIND, PROPOSALS_JOB, RECONCILE_JOB, SWEEP_JOB, make_queues
from payments.providers.base import COLLECTION, PAYOUT
from payments.sandboxes.airtel import callback_hash
from payments.service import Limits
from tests.simulation.plan import NUMBERS, PIN, STRANGER, SUPPLIER, WRONG_PIN, Step
from tests.simulation.world import DECIDE_AFTER, World
from ussd_app import appkeys
from workers.main import run_burst

NAMES = ("Bwalya", "Mutale", "Chipo", "Chanda", "Mwansa", "Bupe")


class Call:
    """One USSD session of one number: the inputs so far, posted as AT's cumulative text."""

    def __init__(self, world: World, msisdn: str, sid: str):
        self.world, self.msisdn, self.sid, self.inputs = world, msisdn, sid, []
        self.reply = ""

    @property
    def text(self) -> str:
        return "*".join(self.inputs)

    async def dial(self) -> str:
        self.reply = await self.world.hop(self.sid, "", self.msisdn)
        if "Continue where you left off?" in self.reply:
            await self.press("2")
        return self.reply

    async def press(self, *keys: str) -> str:
        for key in keys:
            self.inputs.append(key)
            self.reply = await self.world.hop(self.sid, self.text, self.msisdn)
        return self.reply

    async def state(self) -> str | None:
        session = await self.world.client.app[appkeys.ENGINE].store.load_session(self.sid)
        return session.state if session else None


async def walk(world: World, user: int, keys: list[str], expect: str) -> Call | None:
    """Dial and press `keys`; the call if it reached state `expect` (its money hop comes next)."""
    call = Call(world, NUMBERS[user], world.next_id(f"u{user}"))
    await call.dial()
    for key in keys:
        if call.reply.startswith("END "):
            return None
        await call.press(key)
    return call if await call.state() == expect else None


async def money_hop(call: Call, key: str, kind: str, retry: str) -> str:
    """The hop that moves money, and the aggregator's retransmissions of it."""
    world = call.world
    if retry == "foreign":
        thief = NUMBERS[(NUMBERS.index(call.msisdn) + 1) % len(NUMBERS)] if call.sid[-1] in "02468" else STRANGER
        await world.hop(call.sid, "*".join([*call.inputs, key]), thief)
    world.intend(kind, call.sid, "*".join([*call.inputs, key]))
    call.inputs.append(key)
    if retry == "copies":
        replies = await asyncio.gather(*(world.hop(call.sid, call.text, call.msisdn) for _ in range(3)))
        call.reply = replies[0]
    else:
        call.reply = await world.hop(call.sid, call.text, call.msisdn)
    if retry == "same":
        await world.hop(call.sid, call.text, call.msisdn)
    elif retry == "forget":
        await world.lose_redis()
        await world.hop(call.sid, call.text, call.msisdn)
    elif retry == "after_end" and call.reply.startswith("END "):
        for extra in ("1", f"1*{PIN}", "0"):
            await world.hop(call.sid, f"{call.text}*{extra}", call.msisdn)
    return call.reply


# -- journeys ------------------------------------------------------------------------------------------

async def register(world: World, step: Step) -> None:
    call = Call(world, NUMBERS[step.user], world.next_id(f"reg{step.user}"))
    await call.dial()
    reply = await call.press("1", NAMES[step.user], PIN, PIN)
    if NAMES[step.user] not in reply:
        world.violate(f"registration of {NUMBERS[step.user]} failed: {reply!r}")


async def register_again(world: World, step: Step) -> None:
    """A registered user dials (lands on the menu); a stranger's PINs do not match (asked again)."""
    await Call(world, NUMBERS[step.user], world.next_id("again")).dial()
    stranger = Call(world, STRANGER, world.next_id("stranger"))
    await stranger.dial()
    await stranger.press("1", "Visitor", PIN, WRONG_PIN)


async def fund(world: World, step: Step) -> None:
    money, wh = step.args
    user = await wallet.find_user(world.db, NUMBERS[step.user])
    await wallet.credit(world.db, f"sim:fund:{step.user}", user, user.currency, money, "simulation")
    await wallet.credit(world.db, f"sim:fund-wh:{step.user}", user, ledger.ENERGY, wh, "simulation")


async def smspin(world: World, step: Step) -> None:
    call = await walk(world, step.user, ["3", "4", "1"], "settings_smspinpin")
    if call is not None:
        await call.press(PIN)


async def send(world: World, step: Step) -> None:
    to, amount, pin, retry = step.args
    number = "0961700098" if to < 0 else "0" + NUMBERS[to][4:]
    call = await walk(world, step.user, ["1", "2", number, amount], "wallet_sendconfirm")
    if call is not None:
        await money_hop(call, pin, "transfer", retry)


async def deposit(world: World, step: Step) -> None:
    amount, retry = step.args
    call = await walk(world, step.user, ["2", "1", amount], "money_depconfirm")
    if call is not None:
        await money_hop(call, "1", "payment", retry)


async def withdraw(world: World, step: Step) -> None:
    amount, pin, retry = step.args
    call = await walk(world, step.user, ["2", "2", amount], "money_wdconfirm")
    if call is not None:
        await money_hop(call, pin, "payment", retry)


async def sell(world: World, step: Step) -> None:
    kwh, price, pin, retry = step.args
    if kwh == "all":                                  # whatever the screen says the user has
        call = await walk(world, step.user, ["5", "1"], "trade_sellkwh")
        owned = re.search(r"You have ([0-9.,]+) kWh", call.reply) if call else None
        kwh = owned.group(1).replace(",", "") if owned else "0"
    call = await walk(world, step.user, ["5", "1", kwh, price, "3"], "trade_sellconfirm")
    if call is not None:
        await money_hop(call, pin, "order", retry)


async def buy(world: World, step: Step) -> None:
    kwh, choice, pin, retry = step.args
    call = await walk(world, step.user, ["5", "2", kwh], "trade_buyquote")
    if call is None:
        return
    if "PIN" not in call.reply:                  # only some for sale: take it, or bid for the rest
        await call.press(choice)
        if await call.state() != "trade_buypin":
            return
    await money_hop(call, pin, "order", retry)


async def cancel(world: World, step: Step) -> None:
    call = await walk(world, step.user, ["5", "3", str(step.args[0])], "trade_cancel")
    if call is not None:
        await call.press("1")


async def sms(world: World, step: Step) -> None:
    text = step.args[0]
    if text.startswith("YES"):
        world.seen.intents["order"] += 1
    pid = world.next_id("sms")
    await world.sms(NUMBERS[step.user], text, pid)
    if text.startswith("YES") and world.counter % 3 == 0:
        await world.sms(NUMBERS[step.user], text, pid)          # the aggregator delivers it twice


# -- clusters and the advisor ------------------------------------------------------------------------------

async def cluster(world: World, step: Step) -> None:
    keys = ["6", "1", f"Solar {NAMES[step.user]}", "1", "Kabwe", "100"]      # micro, K100 a member
    call = await walk(world, step.user, keys, "clusters_copen")
    if call is not None:
        await call.press("1")


async def join(world: World, step: Step) -> None:
    async with world.db() as s:
        chair = await s.scalar(select(User.id).where(User.msisdn == NUMBERS[step.args[0]]))
        found = await clubs.membership_of(s, chair)
    if found is not None:
        call = await walk(world, step.user, ["6", "2"], "clusters_jcode")
        if call is not None:
            await call.press(found[0].code)


async def contribute(world: World, step: Step) -> None:
    amount, pin, retry = step.args
    call = await walk(world, step.user, ["6", "1", amount], "clusters_cpin")
    if call is not None:
        await money_hop(call, pin, "contribution", retry)


async def propose(world: World, step: Step) -> None:
    """Equipment from the supplier, paid from the pool once the members pass it."""
    keys = ["6", "4", "1", "2 batteries", SUPPLIER, step.args[0], "1"]
    call = await walk(world, step.user, keys, "clusters_ppin")
    if call is not None:
        await call.press(PIN)


async def vote(world: World, step: Step) -> None:
    choice, channel = step.args
    async with world.db() as s:
        me = await s.scalar(select(User.id).where(User.msisdn == NUMBERS[step.user]))
        found = await clubs.membership_of(s, me)
        newest = found and await s.scalar(select(Proposal.number).where(      # members see its number
            Proposal.cluster_id == found[0].id, Proposal.state == "open").order_by(Proposal.id.desc()))
    if not newest:
        return
    if channel == "sms":
        await world.sms(NUMBERS[step.user], f"{choice.upper()} {newest}")
        return
    call = await walk(world, step.user, ["6", "3", "1"], "clusters_pvote")
    if call is not None:
        await call.press("1" if choice == "yes" else "2")


async def ask(world: World, step: Step) -> None:
    """A question for the advisor, by SMS or by USSD (a common question of the first topic)."""
    if step.args[0] != "ussd":
        await world.sms(NUMBERS[step.user], step.args[0])
        return
    call = Call(world, NUMBERS[step.user], world.next_id("ask"))
    await call.dial()
    await call.press("4", "1", "1")


# -- meters ----------------------------------------------------------------------------------------------

BASELINE = (10_000, 2_000)                 # a meter's registers (export, import Wh) when it is registered


async def meter(world: World, step: Step) -> None:
    """An operator registers the user's meter (its registers now are the baseline, an hour ago)."""
    async with world.db() as s, s.begin():
        user = await s.scalar(select(User).where(User.msisdn == NUMBERS[step.user]))
        await meters.register(s, user, f"SIM-MTR-{step.user}", f"sim-secret-{step.user}", *BASELINE,
                              now=datetime.now(timezone.utc) - timedelta(hours=1))
    world.registers[step.user] = list(BASELINE)


async def reading(world: World, step: Step) -> None:
    export_delta, import_delta, how = step.args
    regs = world.registers.setdefault(step.user, list(BASELINE))
    if how == "burst":                           # three readings at once, each further on
        bodies = []
        for n in range(3):
            regs[0], regs[1] = regs[0] + export_delta // 3, regs[1] + import_delta // 3
            bodies.append(_reading(step.user, *regs, seconds=n / 1000))
        await asyncio.gather(*(_post_reading(world, step.user, b) for b in bodies))
        return
    if how != "backwards":
        regs[0], regs[1] = regs[0] + export_delta, regs[1] + import_delta
    body = _reading(step.user, regs[0] - (500 if how == "backwards" else 0), regs[1])
    await _post_reading(world, step.user, body, secret="wrong-secret" if how == "wrong_secret" else None)
    if how == "repeat":
        await _post_reading(world, step.user, body)


def _reading(user: int, export_wh: int, import_wh: int, seconds: float = 0) -> dict:
    stamp = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return {"meter": f"SIM-MTR-{user}", "export_wh": export_wh, "import_wh": import_wh,
            "timestamp": stamp.isoformat()}


async def _post_reading(world: World, user: int, body: dict, secret: str | None = None) -> None:
    resp = await world.client.post("/meters/readings", json=body,
                                   headers={"X-Meter-Secret": secret or f"sim-secret-{user}"})
    if resp.status >= 500:
        world.violate(f"meter reading {body} answered {resp.status}")


# -- at once -------------------------------------------------------------------------------------------

async def _at_last_hop(world: World, user: int, amount: str, n: int, kind: str = "withdraw") -> list[Call]:
    """`n` sessions of one user, each at the last hop of a withdrawal (the PIN) or a deposit (confirm)."""
    keys, state = (["2", "2", amount], "money_wdconfirm") if kind == "withdraw" else \
        (["2", "1", amount], "money_depconfirm")
    calls = await asyncio.gather(*(walk(world, user, keys, state) for _ in range(n)))
    return [c for c in calls if c is not None]


async def burst(world: World, step: Step) -> None:
    """Deposits or withdrawals of one user confirmed in all sessions at once: the daily limit must hold."""
    n, amount, kind = step.args
    if amount == "rest":
        amount = await _rest_of_today(world, step.user, COLLECTION if kind == "deposit" else PAYOUT)
    calls = await _at_last_hop(world, step.user, amount, n, kind)
    last = PIN if kind == "withdraw" else "1"
    for call in calls:
        world.intend("payment", call.sid, f"{call.text}*{last}")
    await asyncio.gather(*(call.press(last) for call in calls))


async def _rest_of_today(world: World, user: int, direction: str) -> str:
    """What is left of the user's daily limit (at most one payment's limit), as typed."""
    settings = world.settings
    today = world.now().replace(hour=0, minute=0, second=0, microsecond=0)
    async with world.db() as s:
        currency = await s.scalar(select(User.currency).where(User.msisdn == NUMBERS[user]))
        used = await s.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).join(User).where(
            User.msisdn == NUMBERS[user], Payment.direction == direction, Payment.created_at >= today,
            Payment.state.not_in(("failed", "expired"))))
    limits = Limits.from_settings(settings)
    rest = min(limits.payment(currency), limits.day(currency) - used)
    return f"{max(rest, 1) / 100:.2f}"


async def storm(world: World, step: Step) -> None:
    """Wrong PINs in many sessions at once: no more are weighed than the tries left."""
    calls = await _at_last_hop(world, step.user, "20", step.args[0])
    if not calls:
        return
    tries = await _tries_left(world, step.user)
    replies = await asyncio.gather(*(call.press(WRONG_PIN) for call in calls))
    weighed = [r for r in replies if "tries left" in r or "Wrong PIN" in r]
    if len(weighed) > tries:
        world.violate(f"{len(weighed)} wrong PINs at once were weighed with {tries} tries left")


async def _tries_left(world: World, user: int) -> int:
    settings = world.settings
    async with world.db() as s:
        failures, until = (await s.execute(select(User.pin_failures, User.pin_locked_until).where(
            User.msisdn == NUMBERS[user]))).one()
    if until is None:
        return settings.pin_max_failures - failures
    return settings.pin_max_failures if until.replace(tzinfo=world.now().tzinfo) <= world.now() else 0


async def slow(world: World, step: Step) -> None:
    """MTN answers slower than the session lock; the aggregator sends the hop again meanwhile."""
    kind, amount, lock = step.args
    keys, state, last = (["2", "2", amount], "money_wdconfirm", PIN) if kind == "withdraw" else \
        (["2", "1", amount], "money_depconfirm", "1")
    call = await walk(world, step.user, keys, state)
    if call is None:
        return
    mtn = world.fakes["mtn"]
    mtn.answer_after = world.settings.lock_timeout_ms / 1000 * 1.5
    try:
        world.intend("payment", call.sid, f"{call.text}*{last}")
        call.inputs.append(last)
        first = asyncio.create_task(world.hop(call.sid, call.text, call.msisdn))
        await asyncio.sleep(0.3)
        if lock == "expired":                         # the process stalled: its lock timed out
            store = world.client.app[appkeys.ENGINE].store
            await store.redis.delete(store._key(call.sid, "lock"))
        await world.hop(call.sid, call.text, call.msisdn)
        await first
    finally:
        mtn.answer_after = 0.0


# -- faults, jobs, the clock -----------------------------------------------------------------------------

PROVIDER_OF = {"6": "mtn", "7": "airtel", "5": "pawapay"}        # the digit after +2609


def provider_of(user: int) -> str:
    return PROVIDER_OF[NUMBERS[user][5]]


async def fault(world: World, step: Step) -> None:
    what, *rest = step.args
    if what == "redis":
        await world.lose_redis()
    elif what == "kill":
        faults.arm(rest[0])
    elif rest[0] == "fast_decide":                   # callbacks racing the submit's answer
        for fake in world.fakes.values():
            fake.decide_after = 0.0
    else:
        world.fakes[provider_of(step.user)].fail(rest[0], rest[1])


async def jobs(world: World, step: Step | None = None) -> None:
    """What the worker's ticker enqueues, then everything queued (SMS sends, payouts), run to the end."""
    for fake in world.fakes.values():
        fake.decide_after = DECIDE_AFTER
    settings = world.settings
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        queues = make_queues(connection, settings.queue_name)
        for job in (SWEEP_JOB, RECONCILE_JOB, EXPIRE_JOB, PROPOSALS_JOB):
            queues[JOB_KIND[job]].enqueue(job, result_ttl=60, failure_ttl=600)
    finally:
        connection.close()
    await asyncio.to_thread(run_burst, settings)


async def clock(world: World, step: Step) -> None:
    """Time jumps (past the YES window, a PIN lock, the payment expiry, midnight), then the jobs run."""
    world.shift_clock(step.args[0])
    await jobs(world)


async def callback_again(world: World, step: Step) -> None:
    """A provider calls back again for some past payment (a duplicate, or one late past its expiry)."""
    async with world.db() as s:
        rows = (await s.execute(select(Payment.reference, Payment.provider).order_by(Payment.id))).all()
    if not rows:
        return
    reference, provider = rows[int(step.args[0] * len(rows))]
    fake = world.fakes[provider]
    txn = fake.txns.get(reference)
    if txn is None:
        return
    if provider == "mtn":
        await fake._callback(txn)
    elif provider == "pawapay":
        await fake.call_back(fake.callback_url, txn.data())
    else:
        payload = {"id": txn.id, "message": txn.message, "status_code": "TS" if txn.status == "TS" else "TF",
                   "airtel_money_id": txn.airtel_money_id or ""}
        await fake.call_back(fake.callback_url, {"transaction": payload,
                                                 "hash": callback_hash(payload, fake.callback_key)})


STEPS = {"meter": meter, "reading": reading, "cluster": cluster, "join": join, "contribute": contribute,
         "propose": propose, "vote": vote, "ask": ask, "register": register, "register_again": register_again, "fund": fund, "smspin": smspin, "send": send,
         "deposit": deposit, "withdraw": withdraw, "sell": sell, "buy": buy, "cancel": cancel, "sms": sms,
         "burst": burst, "storm": storm, "slow": slow, "fault": fault, "jobs": jobs, "clock": clock,
         "callback_again": callback_again}

