"""Wallet through the real hop: send money's bad inputs post nothing, a retransmitted confirmation
posts once, fees reach the fees account, a PIN lock outlives a restart; amounts parse and print exactly."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import JournalEntry, SmsOutbox
from enerlectra.domain import ledger, wallet
from enerlectra.domain.money import BadAmount, format_energy, format_money, parse_amount
from tests.helpers import assert_screen_ok, at_form, new_session_id
from ussd_app import appkeys
from ussd_app.app import create_app

SENDER, RECIPIENT = "+260971900001", "+260961900002"


@pytest.mark.parametrize("text,currency,minor", [
    ("25", "ZMW", 2500), ("25.5", "ZMW", 2550), ("25,50", "ZMW", 2550), ("K25.50", "ZMW", 2550),
    (" 1000 ", "TZS", 100000), ("0.01", "ZMW", 1), ("999999999999", "ZMW", 99999999999900),
])
def test_amounts_people_type(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize("text,why", [
    ("ten", "not a number"), ("", "not a number"), ("0", "zero"), ("0.00", "zero"), ("-5", "negative"),
    ("12.345", "too many decimals"), ("1e5", "not a number"), ("1.2.3", "not a number"), ("٣", "not a number"),
])
def test_amounts_refused(text, why):
    with pytest.raises(BadAmount, match=why):
        parse_amount(text, "ZMW")


@pytest.mark.parametrize("minor,currency,shown", [
    (0, "ZMW", "K0.00"), (2550, "ZMW", "K25.50"), (123456789, "ZMW", "K1,234,567.89"),
    (100000, "TZS", "TSh 1,000"), (99_999_999_00, "TZS", "TSh 99,999,999"),   # whole shillings: no cents
    (100050, "TZS", "TSh 1,000.50"),             # a fraction (a fee) still shows: nothing is hidden
])
def test_money_shown_with_symbol_and_decimals_in_gsm7(minor, currency, shown):
    assert format_money(minor, currency) == shown


@pytest.mark.parametrize("wh,shown", [(0, "0.0 kWh"), (1, "0.001 kWh"), (12500, "12.5 kWh"),
                                      (1234567, "1,234.567 kWh")])
def test_energy_shown_in_kwh(wh, shown):
    assert format_energy(wh) == shown


class Phone:
    def __init__(self, client, msisdn):
        self.client, self.msisdn, self.sid, self.inputs = client, msisdn, None, []

    async def dial(self) -> str:
        self.sid, self.inputs = new_session_id(), []
        return await self._post()

    async def press(self, *keys: str) -> str:
        for key in keys:
            self.inputs.append(key)
            reply = await self._post()
        return reply

    async def _post(self) -> str:
        form = at_form(self.sid, "*".join(self.inputs), self.msisdn)
        resp = await self.client.post("/ussd/africastalking", data=form)
        text = await resp.text()
        assert_screen_ok(text)
        return text


async def register(client, msisdn, name, pin="4826") -> Phone:
    phone = Phone(client, msisdn)
    await phone.dial()
    assert name in await phone.press("1", name, pin, pin)
    return phone


async def fund(client, msisdn, amount="100"):
    db = client.app[appkeys.DB]
    user = await wallet.find_user(db, msisdn)
    await wallet.credit(db, f"test:{new_session_id()}", user, user.currency, parse_amount(amount, user.currency),
                        "test")


async def transfers(client) -> int:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "transfer"))


@pytest.fixture
async def two_users(client):
    await register(client, RECIPIENT, "Chipo")
    sender = await register(client, SENDER, "Bupe")
    await fund(client, SENDER)
    return sender


@dataclass
class BadInput:
    label: str
    keys: tuple[str, ...]              # after Wallet -> Send money
    says: str


BAD = [
    BadInput("number with letters", ("call me",), "Type a phone number, like 0971234567."),
    BadInput("own number", ("0971900001",), "You cannot send money to yourself."),
    BadInput("unregistered recipient", ("0977000000",), "0977000000 is not on Enerlectra."),
    BadInput("a Tanzanian recipient", ("+255712345678",), "is not on Enerlectra"),
    BadInput("amount with letters", ("0961900002", "5 kwacha"), "Type an amount, like 25 or 25.50."),
    BadInput("zero", ("0961900002", "0.00"), "Type an amount, like 25 or 25.50."),
    BadInput("negative", ("0961900002", "-10"), "Type an amount, like 25 or 25.50."),
    BadInput("more decimals than the kwacha has", ("0961900002", "1.005"), "Type an amount, like 25 or 25.50."),
    BadInput("above the configured limit", ("0961900002", "60"), "The most you can send at once is K50.00."),
    BadInput("more than the balance", ("0961900002", "45"), "Not enough money: your balance is K100.00"[:30]),
    BadInput("wrong PIN", ("0961900002", "10", "1111"), "Wrong PIN. 2 tries left."),
    BadInput("PIN with letters", ("0961900002", "10", "abcd"), "Type your 4-digit PIN."),
]


@pytest.mark.parametrize("case", BAD, ids=[c.label for c in BAD])
async def test_bad_send_money_input_says_what_to_do_and_posts_nothing(case, aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(transfer_limit_minor=5000)))
    await register(client, RECIPIENT, "Chipo")
    sender = await register(client, SENDER, "Bupe")
    await fund(client, SENDER, "100" if case.label != "more than the balance" else "40")
    await sender.dial()
    reply = await sender.press("1", "2", *case.keys)
    assert reply.startswith("CON ") and case.says in reply, reply
    assert await transfers(client) == 0


async def test_send_money_happy_path_with_a_fee(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(transfer_fee_minor=150)))
    await register(client, RECIPIENT, "Chipo")
    sender = await register(client, SENDER, "Bupe")
    await fund(client, SENDER)
    await sender.dial()
    confirm = await sender.press("1", "2", "0961900002", "20")
    assert "Send K20.00 to Chipo? Fee K1.50, total K21.50." in confirm
    done = await sender.press("4826")
    assert done == "END Sent K20.00 to Chipo. Your balance: K78.50."
    async with client.app[appkeys.DB]() as s:
        fees = await ledger.system(s, "fees", "ZMW")
        receipts = (await s.scalars(select(SmsOutbox).where(SmsOutbox.kind == "receipt")
                                    .order_by(SmsOutbox.id))).all()
        problems = await ledger.verify(s)
    assert fees.balance == 150 and problems == []
    assert [r.msisdn for r in receipts] == [SENDER, RECIPIENT] and all(r.essential for r in receipts)
    assert "Fee K1.50" in receipts[0].body and "you received K20.00 from Bupe" in receipts[1].body


async def test_retransmitted_confirmation_posts_once(client, two_users):
    sender = two_users
    await sender.dial()
    await sender.press("1", "2", "0961900002", "30")
    sender.inputs.append("4826")
    replies = await asyncio.gather(*(sender._post() for _ in range(20)))
    assert len(set(replies)) == 1 and "Sent K30.00 to Chipo" in replies[0]
    assert await transfers(client) == 1
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.kind == "receipt")) == 2


async def test_three_wrong_pins_lock_and_the_lock_outlives_a_restart(aiohttp_client, settings, two_users, client):
    sender = two_users
    await sender.dial()
    await sender.press("1", "2", "0961900002", "10", "1111", "2222")
    locked = await sender.press("3333")
    assert locked.startswith("END Wrong PIN 3 times. Money actions are locked until ")
    async with client.app[appkeys.DB]() as s:
        lock_sms = (await s.scalars(select(SmsOutbox).where(SmsOutbox.kind == "pin-lock"))).all()
    assert [m.msisdn for m in lock_sms] == [SENDER] and lock_sms[0].essential

    restarted = await aiohttp_client(create_app(settings))          # a new process on the same SQL
    phone = Phone(restarted, SENDER)
    await phone.dial()
    again = await phone.press("1", "2")
    assert again.startswith("END Money actions are locked until ")
    await phone.dial()
    assert "PIN changes are locked until" in await phone.press("3", "2", "4826")   # PIN change is locked too
    assert await transfers(client) == 0


async def test_bal_by_sms(client, two_users):
    resp = await client.post("/sms/africastalking/inbound", data={"id": "bal-1", "from": SENDER, "text": "bal"})
    assert resp.status == 200
    async with client.app[appkeys.DB]() as s:
        reply = await s.scalar(select(SmsOutbox.body).where(SmsOutbox.kind == "reply:bal"))
    assert reply == "Enerlectra balance: K100.00. Energy: 0.0 kWh."
