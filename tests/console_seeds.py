"""Rows the console pages show, seeded as the product leaves them: users, payments in any state (one waiting in
review is what an unsigned AzamPay callback or a payment past PAYMENT_EXPIRE_MINUTES leaves), a failed SMS, a
failed advisor question, trades on the energy market through the real order book; and the audit rows an
action wrote. Every helper takes the aiohttp app (`client.app` in a test with a client)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from enerlectra.db.models import AdvisorQuestion, AuditEntry, Payment, SmsOutbox, User
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.rules import from_settings
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.work import unit_of_work
from ussd_app import appkeys

USER = "+260961700001"        # an MTN number in Zambia


async def add_user(app, msisdn: str = USER, name: str = "Musonda", language: str = "en",
                   opt_out: bool = False) -> User:
    """A registered user (PIN 4826); `opt_out`: they sent STOP."""
    db = app[appkeys.DB]
    user = await users.register(db, parse_msisdn(msisdn), name, language, hash_user_pin("4826", 16))
    if opt_out:
        async with db() as s, s.begin():
            await s.execute(update(User).where(User.id == user.id).values(sms_opt_out=True))
    return user


async def add_payment(app, owner: User, state: str, provider: str = "mtn", direction: str = "collection",
                      amount: int = 5_000, created_at: datetime | None = None, reason: str | None = None) -> str:
    """A payment as the lifecycle leaves it in `state`; returns its reference."""
    reference = str(uuid.uuid4())
    async with app[appkeys.DB]() as s, s.begin():
        payment = Payment(reference=reference, provider=provider, direction=direction, user_id=owner.id,
                          msisdn=owner.msisdn, currency=owner.currency, amount=amount, fee=0, state=state, checks=0,
                          reason=reason, request_key=reference)
        if created_at is not None:
            payment.created_at = created_at
        s.add(payment)
    return reference


async def review_payment(app, owner: User, amount: int = 5_000, reason: str = "UNSIGNED SUCCEEDED") -> str:
    """A deposit up for an operator's review; returns its reference (`payments.resolve` settles it)."""
    return await add_payment(app, owner, "review", amount=amount, reason=reason)


async def audit_rows(app, action: str) -> list[AuditEntry]:
    async with app[appkeys.DB_READ]() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                     .order_by(AuditEntry.id))).all())


async def failed_sms(app, last_error: str = "gateway said 500 three times") -> int:
    async with app[appkeys.DB]() as s, s.begin():
        row = SmsOutbox(msisdn=USER, body="Your deposit of K50.00 arrived.", kind="receipt", status="failed",
                        encoding="GSM-7", segments=1, failure_reason="UserInBlacklist", last_error=last_error,
                        attempts=5)
        s.add(row)
        await s.flush()
        return row.id


async def failed_question(app, owner: User, error: str = "APIStatusError: overloaded") -> int:
    async with app[appkeys.DB]() as s, s.begin():
        row = AdvisorQuestion(request_key=f"q-{uuid.uuid4().hex}", user_id=owner.id, topic="energy", source="sms",
                              language="en", question="How big a panel for a fridge?", status="failed",
                              backend="claude", error=error, attempts=3)
        s.add(row)
        await s.flush()
        return row.id


async def trade(app, seller: User, buyer: User, wh: int, price: int) -> None:
    """`seller` offers `wh` at `price` and `buyer` takes it all: one trade, through the order book."""
    await order(app, seller, "sell", wh, price)
    await order(app, buyer, "buy", wh, price)


async def order(app, who: User, side: str, wh: int, price: int) -> None:
    """Place an order as `who` (funds it first: energy for an offer, money for a bid)."""
    settings, db = app[appkeys.SETTINGS], app[appkeys.DB]
    if side == "sell":
        await wallet.credit(db, f"seed:e:{uuid.uuid4().hex}", who, ledger.ENERGY, wh, "seed")
    else:
        money = price * wh // 500 + 1_000           # the bid with room for its fee
        await wallet.credit(db, f"seed:m:{uuid.uuid4().hex}", who, who.currency, money, "seed")
    async with unit_of_work(db) as s:
        me = await s.get(User, who.id)
        await book.place(s, f"seed:{uuid.uuid4().hex}", me, side, wh, price, from_settings(settings),
                         texts.messages())
