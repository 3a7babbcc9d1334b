"""Rows the console pages show, written straight into SQL (users, payments): the pages read what is there."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from enerlectra.db.models import AuditEntry, Payment, User
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from ussd_app import appkeys


async def add_user(client, msisdn: str, name: str = "Mwila", language: str = "en", opt_out: bool = False) -> User:
    db = client.app[appkeys.DB]
    user = await users.register(db, parse_msisdn(msisdn), name, language, "not-a-pin-hash")
    if opt_out:
        async with db() as s, s.begin():
            await s.execute(update(User).where(User.id == user.id).values(sms_opt_out=True))
    return user


async def add_payment(client, user: User, state: str, provider: str = "mtn", direction: str = "collection",
                      amount: int = 5_000, created_at: datetime | None = None, reason: str | None = None) -> str:
    reference = str(uuid.uuid4())
    async with client.app[appkeys.DB]() as s, s.begin():
        payment = Payment(reference=reference, provider=provider, direction=direction, user_id=user.id,
                          msisdn=user.msisdn, currency=user.currency, amount=amount, fee=0, state=state, checks=0,
                          reason=reason, request_key=reference)
        if created_at is not None:
            payment.created_at = created_at
        s.add(payment)
    return reference


async def audit_rows(client, action: str) -> list[AuditEntry]:
    async with client.app[appkeys.DB_READ]() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                     .order_by(AuditEntry.id))).all())
