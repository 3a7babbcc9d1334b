"""Users: registration, language and PIN. Functions take a session factory and open their own unit of work."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.models import PinReset, User
from enerlectra.domain import outbox
from enerlectra.domain.phone import Msisdn
from enerlectra.domain.pin_code import stored_for
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.work import unit_of_work
from enerlectra.text.gsm7 import is_gsm7

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


@dataclass(frozen=True)
class Dialer:
    """What a session keeps of its user from the dial on (screens read no user row again for these)."""

    id: int
    name: str
    language: str
    reset_due: bool         # a PIN reset is issued and waiting: this dial chooses the new PIN


_AT_DIAL = (select(User.id, User.name, User.language, PinReset.state, PinReset.expires_at)
            .outerjoin(PinReset, PinReset.open_for == User.id).where(User.msisdn == bindparam("msisdn")))


async def at_dial(reads: Callable, msisdn: str) -> Dialer | None:
    """The caller's user and whether a PIN reset waits for this dial (pin_resets.due), in one Core read.
    `reads`: Services.reads (or any factory of a session or connection)."""
    async with reads() as s:
        row = (await s.execute(_AT_DIAL, {"msisdn": msisdn})).first()
    if row is None:
        return None
    expires = aware_utc(row.expires_at)
    return Dialer(row.id, row.name, row.language,
                  row.state == "issued" and expires is not None and expires > outbox.now())


async def register(db: async_sessionmaker, number: Msisdn, name: str, language: str, pin_hash: str,
                   welcome: Callable[[User], str] | None = None) -> User:
    """Create the user and queue the welcome SMS in the same unit of work (sent after the commit).

    Registering an existing number returns the first registration unchanged and queues nothing. The PIN's
    first entry (sealed, pin_code) is stored bound to the new user's id.
    """
    try:
        async with unit_of_work(db) as s:
            user = User(msisdn=number.e164, country=number.country, currency=number.currency,
                        language=language, name=name, pin_hash=pin_hash, sms_opt_out=False)
            s.add(user)
            await s.flush()
            user.pin_hash = stored_for(pin_hash, user.id)
            await s.flush()
            if welcome:
                await outbox.add(s, number.e164, welcome(user), "welcome", dedupe_key=f"welcome:{user.id}")
        return user
    except IntegrityError:
        existing = await get_by_msisdn(db, number.e164)
        if existing is None:  # the constraint that failed was not the msisdn one
            raise
        return existing


async def set_language(db: async_sessionmaker, user_id: int, language: str) -> None:
    async with db() as s, s.begin():
        await set_preference(s, user_id, "language", language)


PREFERENCES = frozenset({"language", "sms_opt_out", "sms_pin_enabled"})   # what a user sets by menu or keyword


async def set_preference(s: AsyncSession, user_id: int, name: str, value: object) -> None:
    """One of the user's own settings, inside the caller's transaction."""
    if name not in PREFERENCES:
        raise ValueError(f"{name!r} is not a user preference")
    await s.execute(update(User).where(User.id == user_id).values({name: value}))


async def preference(s: AsyncSession, user_id: int, name: str) -> object:
    if name not in PREFERENCES:
        raise ValueError(f"{name!r} is not a user preference")
    return await s.scalar(select(getattr(User, name)).where(User.id == user_id))


async def by_msisdn(s: AsyncSession, msisdn: str) -> User | None:
    """The user with this E.164 number, inside the caller's session."""
    return await s.scalar(select(User).where(User.msisdn == msisdn))


async def change_pin(db: async_sessionmaker, user_id: int, pin_hash: str, *, key: str,
                     receipt: Callable[[User], str]) -> None:
    """Set the new PIN (its first entry, sealed: stored bound to the user) and queue the owner's receipt in the
    same unit of work (once per `key`, the hop that changed it)."""
    bound = stored_for(pin_hash, user_id)
    async with unit_of_work(db) as s:
        await s.execute(update(User).where(User.id == user_id).values(pin_hash=bound))
        user = await s.get(User, user_id)
        await outbox.add(s, user.msisdn, receipt(user), "pin-changed", essential=True,
                         dedupe_key=f"pin-changed:{key}")
