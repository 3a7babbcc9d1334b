"""Money under attack through the real app (issue 14): each test is an attack that moved money on the old main.

Phantom orders from `YES <PIN>` after the kWh or money were spent, parallel PIN guesses, retransmitted money hops
(a slow provider, an expired session lock, Redis losing the session, a re-post after END), a foreign phoneNumber
on a session, the daily limit raced. After each: `ledger verify` and the escrow check find nothing.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import JournalEntry, MarketOrder, Payment, SmsOutbox, UssdSessionEvent
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.market import book
from enerlectra.domain.market.rules import from_settings
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests.test_market import energize, sms_pin_on, sms_to
from tests.test_payments import USER, airtel, make_pay, mtn, pawapay, pay  # noqa: F401  fixtures
from tests.test_sms_webhooks import sms
from tests.test_wallet import Phone, fund, register
from ussd_app import appkeys
from ussd_app.app import create_app

SELLER, BUYER, FRIEND = "+260971900011", "+260971900012", "+260961900013"


async def books_ok(client) -> None:
    """ledger verify and the escrow check, on one snapshot (callbacks may still be settling payments)."""
    async with client.app[appkeys.DB]() as s:
        await ledger.one_snapshot(s)
        assert await ledger.verify(s) + await book.check_escrow(s, from_settings(client.app[appkeys.SETTINGS])) == []


async def count(client, query) -> int:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(query)


def open_orders(side: str):
    return select(func.count()).select_from(MarketOrder).where(MarketOrder.state == "open", MarketOrder.side == side)


TRANSFERS = select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "transfer")
PAYMENTS = select(func.count()).select_from(Payment)


async def dial_home(phone: Phone) -> None:
    """Dial and start at the main menu (a screen left open earlier is offered to continue: decline it)."""
    if "Continue where you left off?" in await phone.dial():
        await phone.press("2")


async def say(client, msisdn: str, text: str) -> str:
    """One SMS in (a fresh provider id), the newest SMS out to that number."""
    await client.post("/sms/africastalking/inbound", data=sms(text, sender=msisdn, provider_id=uuid.uuid4().hex))
    return (await sms_to(client, msisdn))[-1]


# -- 1. half-placed orders ---------------------------------------------------------------------------

async def test_yes_after_the_kwh_were_sold_by_ussd_lists_nothing(client):
    seller = await register(client, SELLER, "Bwalya")
    await energize(client, SELLER, 5000)
    await sms_pin_on(seller)
    assert "Reply YES" in await say(client, SELLER, "SELL 5 1.00")
    await dial_home(seller)
    assert "Listed" in await seller.press("5", "1", "5", "1.00", "3", "4826")      # the same 5 kWh by USSD
    assert await say(client, SELLER, "YES 4826") == "You do not have that many kWh. Nothing was listed."
    assert await count(client, open_orders("sell")) == 1, "only the USSD offer; no offer with no kWh behind it"
    await books_ok(client)


async def test_yes_after_the_money_was_sent_away_buys_nothing_and_leaves_no_bid(client):
    seller, buyer = await register(client, SELLER, "Bwalya"), await register(client, BUYER, "Mutale")
    await register(client, FRIEND, "Chipo")
    await energize(client, SELLER, 5000)
    await seller.dial()
    await seller.press("5", "1", "5", "1.00", "3", "4826")
    await fund(client, BUYER, "10")
    await sms_pin_on(buyer)
    assert "Reply YES" in await say(client, BUYER, "BUY 5")
    await dial_home(buyer)
    assert "Sent" in await buyer.press("1", "2", "0961900013", "10", "4826")       # the money leaves by USSD
    assert await say(client, BUYER, "YES 4826") == "Not enough money. Nothing was bought."
    assert await count(client, open_orders("buy")) == 0
    await books_ok(client)


async def test_the_escrow_check_reads_what_open_orders_need_not_the_escrow_column(client):
    """The old check summed the `escrow` column: an open order holding nothing passed it."""
    await register(client, SELLER, "Bwalya")
    user = await wallet.find_user(client.app[appkeys.DB], SELLER)
    async with client.app[appkeys.DB]() as s, s.begin():
        await book.lock_market(s, "ZMW")
        forged = MarketOrder(request_key="forged", currency="ZMW", user_id=user.id, side="sell", price=100, wh=5000,
                             remaining_wh=5000, escrow=0, state="open")
        s.add(forged)
    async with client.app[appkeys.DB]() as s:
        problems = await book.check_escrow(s)
    assert [str(p) for p in problems] == [f"order {forged.id}: open sell of 5000 Wh holds 0, needs 5000"]


# -- 3. parallel PIN guesses ---------------------------------------------------------------------------

async def test_a_hundred_parallel_pin_guesses_evaluate_three_and_send_one_lock_sms(aiohttp_client, settings):
    # The per-number USSD limits would refuse most of these sessions first: switched off to reach the PIN step.
    client = await aiohttp_client(create_app(settings.with_(rate_ussd_sessions_per_msisdn=0,
                                                            rate_ussd_hops_per_msisdn=0)))
    await register(client, FRIEND, "Chipo")
    await register(client, SELLER, "Bwalya")
    await fund(client, SELLER, "100")
    phones = [Phone(client, SELLER) for _ in range(100)]

    async def at_pin_step(phone: Phone) -> None:
        await phone.dial()
        assert "Enter your PIN" in await phone.press("1", "2", "0961900013", "10")

    await asyncio.gather(*(at_pin_step(p) for p in phones))
    guesses = [f"{1000 + i}" for i in range(100)]                      # never the right one (4826)
    replies = await asyncio.gather(*(p.press(g) for p, g in zip(phones, guesses)))
    tried = [r for r in replies if "tries left" in r or "try left" in r or "Wrong PIN 3 times" in r]
    assert len(tried) == 3, [r for r in replies][:5]
    assert sum("Wrong PIN 3 times" in r for r in replies) == 1
    assert all("locked until" in r for r in replies if r not in tried)
    locks = select(func.count()).select_from(SmsOutbox).where(SmsOutbox.kind == "pin-lock")
    assert await count(client, locks) == 1
    assert await count(client, TRANSFERS) == 0
    await books_ok(client)


@pytest.mark.parametrize("lock_minutes,typed,expected", [
    (30, ["1111", "1111", "4826", "1111"], ["2 left", "1 left", "ok", "2 left"]),      # a right PIN clears the count
    (30, ["1111", "1111", "1111", "4826"], ["2 left", "1 left", "locked+sms", "locked"]),
    (0, ["1111", "1111", "1111", "4826"], ["2 left", "1 left", "locked+sms", "ok"]),   # a lock past its time lifts
])
async def test_pin_tries_in_sequence(client, lock_minutes, typed, expected):
    from enerlectra.domain import pins

    await register(client, SELLER, "Bupe")
    user = await wallet.find_user(client.app[appkeys.DB], SELLER)

    def said(check) -> str:
        if check.ok:
            return "ok"
        if check.locked_until is not None:
            return "locked+sms" if check.locked_now else "locked"
        return f"{check.tries_left} left"

    got = [said(await pins.check(client.app[appkeys.DB], user.id, pin, max_failures=3, lock_minutes=lock_minutes,
                                 lock_sms=lambda u, until: "locked")) for pin in typed]
    assert got == expected


# -- 4-7. retransmitted money hops ---------------------------------------------------------------------

@dataclass(frozen=True)
class MoneyHop:
    label: str
    keys: tuple[str, ...]                  # from the main menu; the last one is the money hop
    says: str                              # in the money hop's reply
    moved: Callable[[object, object], Awaitable[int]]    # (client, fake) -> how many times value moved


async def _transfers(client, fake) -> int:
    return await count(client, TRANSFERS)


async def _payments(client, fake) -> int:
    assert len(fake.txns) == await count(client, PAYMENTS), "each payment sent to the provider once"
    return len(fake.txns)


async def _offers(client, fake) -> int:
    return await count(client, open_orders("sell"))


HOPS = [
    MoneyHop("send money", ("1", "2", "0961900013", "10", "4826"), "Sent K10.00", _transfers),
    MoneyHop("withdraw", ("2", "2", "20", "4826"), "on its way", _payments),
    MoneyHop("deposit", ("2", "1", "50", "1"), "Approve the prompt", _payments),
    MoneyHop("sell", ("5", "1", "5", "1.00", "3", "4826"), "Listed", _offers),
]


@pytest.fixture
async def payer(pay):
    """The MTN-paying app with its user funded in money and energy, and a friend to send money to."""
    return await funded(*pay)


async def funded(client, fake, user):
    db = client.app[appkeys.DB]
    await users.register(db, parse_msisdn(FRIEND), "Chipo", "en", hash_user_pin("4826", 16))
    await wallet.credit(db, "fund", user, "ZMW", 100_000, "test")
    await wallet.credit(db, "fund-energy", user, ledger.ENERGY, 10_000, "test")
    return client, fake, user


async def withdrawal_in_flight(client, fake, answer_after: float):
    """(the phone, its PIN hop posted and running) for K20 to MTN, the provider answering after `answer_after` s."""
    fake.answer_after = answer_after
    phone = Phone(client, USER)
    await phone.dial()
    await phone.press("2", "2", "20")
    phone.inputs.append("4826")
    return phone, asyncio.create_task(phone._post())


async def money_hop(client, hop: MoneyHop) -> tuple[Phone, str]:
    phone = Phone(client, USER)
    await phone.dial()
    reply = await phone.press(*hop.keys)
    assert hop.says in reply, reply
    return phone, reply


async def forget_sessions(client) -> None:
    """What a Redis restart without persistence does to our sessions (only this test's keys)."""
    store = client.app[appkeys.ENGINE].store
    keys = [k async for k in store.redis.scan_iter(match=f"{store.prefix}*")]
    if keys:
        await store.redis.delete(*keys)


@pytest.mark.parametrize("hop", HOPS, ids=[h.label for h in HOPS])
async def test_a_money_hop_retransmitted_after_redis_lost_the_session_moves_once(payer, hop):
    client, fake, _user = payer
    phone, reply = await money_hop(client, hop)
    assert await hop.moved(client, fake) == 1
    await forget_sessions(client)
    again = await phone._post()                      # the aggregator sends the very same hop again
    assert hop.says in again, again
    assert await hop.moved(client, fake) == 1
    await books_ok(client)


@pytest.mark.parametrize("hop", HOPS, ids=[h.label for h in HOPS])
async def test_a_longer_text_after_end_answers_that_end_and_moves_nothing(payer, hop):
    client, fake, _user = payer
    phone, reply = await money_hop(client, hop)
    assert reply.startswith("END ")
    for extra in ("1", "1*4826", "0"):               # a late or retried webhook, a dial-string shortcut
        phone.inputs.append(extra)
        assert await phone._post() == reply
    assert await hop.moved(client, fake) == 1
    await books_ok(client)


@pytest.mark.parametrize("lock", ["kept alive while the hop waits", "expired (the process stalled)"])
async def test_a_withdrawal_retransmitted_while_a_six_second_provider_answers_pays_once(payer, lock):
    client, fake, user = payer
    phone, first = await withdrawal_in_flight(client, fake, 6.0)     # slower than the 5 s session lock
    await asyncio.sleep(1.0)
    if lock.startswith("expired"):
        store = client.app[appkeys.ENGINE].store
        await store.redis.delete(store._key(phone.sid, "lock"))
    second = await phone._post()
    assert "on its way" in second and "on its way" in await first
    assert len(fake.txns) == 1 and await count(client, PAYMENTS) == 1
    async with client.app[appkeys.DB]() as s:
        assert (await wallet.balances(s, user.id, "ZMW")).money == 100_000 - 2000 - 250
    await books_ok(client)


# -- 5. limits raced -------------------------------------------------------------------------------------

async def test_five_concurrent_withdrawals_respect_the_daily_limit(payer):
    from payments.service import Limits, OverLimit

    client, fake, user = payer
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = Limits(per_payment=5000, per_day=20_000)
    results = await asyncio.gather(*(payments.withdraw(user, 5000, key=f"race-{n}") for n in range(5)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, OverLimit)]
    assert len(refused) == 1 and refused[0].which == "day", results
    assert len(fake.txns) == 4
    await books_ok(client)


async def test_a_repeated_payment_key_returns_the_first_payment(payer):
    client, fake, user = payer
    payments = client.app[appkeys.PAYMENTS]
    first, *rest = await asyncio.gather(*(payments.withdraw(user, 2000, key="one-hop") for _ in range(10)))
    assert {r.reference for r in rest} == {first.reference}
    assert len(fake.txns) == 1
    await books_ok(client)


# -- 8. a session and its number -------------------------------------------------------------------------

async def test_a_hop_from_another_number_is_refused_and_the_session_goes_on(payer):
    client, fake, _user = payer
    phone = Phone(client, USER)
    await phone.dial()
    await phone.press("2", "2", "20")                        # at the withdrawal PIN
    thief = Phone(client, FRIEND)
    thief.sid, thief.inputs = phone.sid, [*phone.inputs, "4826"]
    refused = await thief._post()
    assert refused == "END Sorry, this session is not yours. Please dial again."
    assert await count(client, PAYMENTS) == 0
    assert "on its way" in await phone.press("4826")        # the owner's session is untouched
    thief.inputs.append("1")
    assert await thief._post() == refused, "nor does the owner's END (and its balance) reach another number"
    await books_ok(client)


# -- 9. PINs kept nowhere in the clear ----------------------------------------------------------------------

async def test_the_engine_names_the_pin_steps_so_the_stored_event_keeps_amounts_and_masks_pins(client):
    await register(client, FRIEND, "Chipo")
    sender = await register(client, SELLER, "Bupe", pin="3971")
    await fund(client, SELLER, "2000")
    await sender.dial()
    assert "Sent K1,500.00" in await sender.press("1", "2", "0961900013", "1500", "3971")
    path = "*".join(sender.inputs)
    await client.post("/ussd/africastalking/events", data={
        "sessionId": sender.sid, "phoneNumber": SELLER, "status": "Success", "input": path, "date": ""})
    async with client.app[appkeys.DB]() as s:
        stored = await s.scalar(select(UssdSessionEvent.input).where(UssdSessionEvent.session_id == sender.sid))
    assert stored == "1*2*0961900013*1500*****", "the amount 1500 stays: only the PIN step is masked"
    store = client.app[appkeys.ENGINE].store
    typed = (b"*3971", b'"3971')                       # the PIN as a typed step, in a path or a JSON string
    for key in [k async for k in store.redis.scan_iter(match=f"{store.prefix}*")]:
        kind = await store.redis.type(key)
        if kind == b"string":
            values = [await store.redis.get(key)]
        else:
            values = [f + b"=" + v for f, v in (await store.redis.hgetall(key)).items()] if kind == b"hash" else []
        assert not any(t in v for v in values for t in typed), (key, values)


# -- 10. a resumed session walked again after Redis lost it (found by the simulation, issue 15) -------------

RESUMED = [       # `moved` counts payments: the walk of either path reaches the withdrawal PIN
    MoneyHop("withdraw", ("2", "2", "20", "4826"), "on its way", _payments),
    MoneyHop("buy", ("5", "2", "5", "4826"), "Bought", _payments),
]


@pytest.mark.parametrize("hop", RESUMED, ids=[h.label for h in RESUMED])
async def test_a_resumed_session_walked_again_after_redis_lost_it_moves_nothing_else(payer, hop):
    """The session began with "Continue where you left off?" answered 2: walked again from the main menu,
    its inputs read one place off (2*5*2*5*4826: Mobile money, -, Withdraw, K5.00, PIN). That path must not
    reach another money step: on the old main it withdrew K5.00 after a buy (a withdrawal's path finds its own
    payment by the hop key, so nothing new moves there)."""
    client, fake, _user = payer
    await wallet.credit(client.app[appkeys.DB], "friend-energy", await wallet.find_user(client.app[appkeys.DB], FRIEND),
                        ledger.ENERGY, 5000, "test")
    friend = Phone(client, FRIEND)
    await friend.dial()
    assert "Listed" in await friend.press("5", "1", "5", "1.00", "3", "4826")
    left_open = Phone(client, USER)
    await left_open.dial()
    await left_open.press("1", "2")                              # send money, its number prompt: worth resuming
    phone = Phone(client, USER)
    assert "Continue where you left off?" in await phone.dial()
    await phone.press("2")                                       # start again
    assert hop.says in await phone.press(*hop.keys)
    moved = await hop.moved(client, fake)
    await forget_sessions(client)
    again = await phone._post()                                  # the aggregator sends the money hop again
    assert again.startswith("END ") and "withdrawal" not in again or hop.label == "withdraw", again
    assert hop.label != "withdraw" or "K20.00" in again, "a repeat shows the amount its payment moved"
    assert await hop.moved(client, fake) == moved == (hop.label == "withdraw")
    await books_ok(client)


@pytest.mark.parametrize("hop", HOPS, ids=[h.label for h in HOPS])
async def test_a_hop_rebuilt_from_its_path_never_moves_money_first(payer, hop):
    """A dial string straight to a money step, or a money hop whose session Redis lost before the step ran:
    the inputs may not mean what the user chose (a resume offer answered first, a path one place off), so the
    rebuilt hop only replays what its key did and otherwise asks the user to dial again."""
    client, fake, _user = payer
    phone = Phone(client, USER)
    await phone.dial()
    await phone.press(*hop.keys[:-1])                 # at the money step's screen: nothing moved yet
    await forget_sessions(client)
    phone.inputs.append(hop.keys[-1])
    assert await phone._post() == "END Sorry, something went wrong. Please dial again."
    shortcut = Phone(client, USER)
    shortcut.sid, shortcut.inputs = f"ATUid_dialstring_{uuid.uuid4().hex}", list(hop.keys)
    assert await shortcut._post() == "END Sorry, something went wrong. Please dial again."
    assert await hop.moved(client, fake) == 0
    await books_ok(client)
