"""Users: registration, language and PIN. Functions take a session factory and open their own unit of work."""
from __future__ import annotations

import re
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra.text.gsm7 import is_gsm7
from enerlectra.db.models import User
from enerlectra.domain import outbox
from enerlectra.domain.phone import Msisdn

NAME_MIN, NAME_MAX = 2, 20
_NAME_SHAPE = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '.-])*$")


def clean_name(raw: str) -> str | None:
    """A display name that fits every screen: 2-20 letters (GSM-7 only), spaces, ' . -."""
    name = " ".join(raw.split())
    if not (NAME_MIN <= len(name) <= NAME_MAX) or not is_gsm7(name) or not _NAME_SHAPE.match(name):
        return None
    return name


async def get_by_msisdn(db: async_sessionmaker, msisdn: str) -> User | None:
    async with db() as s:
        return (await s.execute(select(User).where(User.msisdn == msisdn))).scalar_one_or_none()


async def register(db: async_sessionmaker, number: Msisdn, name: str, language: str, pin_hash: str,
                   welcome: Callable[[User], str] | None = None) -> tuple[User, list[tuple[int, int]]]:
    """Create the user and queue the welcome SMS in the same transaction.

    Registering an existing number returns the first registration unchanged and queues nothing.
    Returns the user and the outbox rows to dispatch after the commit.
    """
    try:
        async with db() as s, s.begin():
            user = User(msisdn=number.e164, country=number.country, currency=number.currency,
                        language=language, name=name, pin_hash=pin_hash, sms_opt_out=False)
            s.add(user)
            await s.flush()
            rows = [await outbox.add(s, number.e164, welcome(user), "welcome", dedupe_key=f"welcome:{user.id}")
                    ] if welcome else []
        return user, outbox.to_dispatch(rows)
    except IntegrityError:
        existing = await get_by_msisdn(db, number.e164)
        if existing is None:  # the constraint that failed was not the msisdn one
            raise
        return existing, []


async def set_language(db: async_sessionmaker, user_id: int, language: str) -> None:
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user_id).values(language=language))


async def change_pin(db: async_sessionmaker, user_id: int, pin_hash: str, *, key: str,
                     receipt: Callable[[User], str]) -> list[tuple[int, int]]:
    """Set the new PIN and queue the owner's receipt in the same transaction (once per `key`, the hop that
    changed it). Returns the outbox rows to dispatch after the commit."""
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user_id).values(pin_hash=pin_hash))
        user = await s.get(User, user_id)
        row = await outbox.add(s, user.msisdn, receipt(user), "pin-changed", essential=True,
                               dedupe_key=f"pin-changed:{key}")
    return outbox.to_dispatch([row])
