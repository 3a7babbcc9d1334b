"""Money PINs: three wrong in a row lock money actions for a while; the owner is told by SMS.

The counter and the lock live in the users table, so a restart changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ussd_app.db.models import User
from ussd_app.domain import outbox
from ussd_app.domain.pin import verify_pin_async

# No daylight saving in either country: fixed offsets are exact.
LOCAL_TIME = {"ZM": timezone(timedelta(hours=2)), "TZ": timezone(timedelta(hours=3))}


@dataclass(frozen=True)
class PinCheck:
    ok: bool
    locked_until: datetime | None = None     # set when money actions are locked (now or already)
    tries_left: int = 0
    dispatch: tuple[tuple[int, int], ...] = ()


def local_hhmm(when: datetime, country: str) -> str:
    return when.astimezone(LOCAL_TIME.get(country, timezone.utc)).strftime("%H:%M")


def aware_utc(when: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; ours are all UTC."""
    return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when


async def locked_until(db: async_sessionmaker, user_id: int) -> datetime | None:
    async with db() as s:
        until = aware_utc(await s.scalar(select(User.pin_locked_until).where(User.id == user_id)))
    return until if until is not None and until > outbox.now() else None


async def check(db: async_sessionmaker, user_id: int, pin: str, *, max_failures: int, lock_minutes: int,
                lock_sms: Callable[[User, datetime], str]) -> PinCheck:
    """Verify a PIN for a money action, counting failures; the lock SMS is queued in the same transaction."""
    until = await locked_until(db, user_id)
    if until is not None:
        return PinCheck(False, locked_until=until)
    async with db() as s:
        stored = await s.scalar(select(User.pin_hash).where(User.id == user_id))
    good = stored is not None and await verify_pin_async(pin, stored)   # the slow KDF outside the write
    async with db() as s, s.begin():
        return await record(s, user_id, good, max_failures=max_failures, lock_minutes=lock_minutes,
                            lock_sms=lock_sms)


async def check_in(s: AsyncSession, user: User, pin: str, *, max_failures: int, lock_minutes: int,
                   lock_sms: Callable[[User, datetime], str]) -> PinCheck:
    """`check` inside the caller's transaction (an SMS command already holds one)."""
    until = aware_utc(user.pin_locked_until)
    if until is not None and until > outbox.now():
        return PinCheck(False, locked_until=until)
    good = await verify_pin_async(pin, user.pin_hash)
    return await record(s, user.id, good, max_failures=max_failures, lock_minutes=lock_minutes, lock_sms=lock_sms)


async def record(s: AsyncSession, user_id: int, good: bool, *, max_failures: int, lock_minutes: int,
                 lock_sms: Callable[[User, datetime], str]) -> PinCheck:
    """Count a right or wrong PIN; the third wrong one in a row locks and queues the lock SMS."""
    if good:
        await s.execute(update(User).where(User.id == user_id, User.pin_failures != 0).values(pin_failures=0))
        return PinCheck(True)
    failures = await s.scalar(update(User).where(User.id == user_id)
                              .values(pin_failures=User.pin_failures + 1).returning(User.pin_failures))
    if failures < max_failures:
        return PinCheck(False, tries_left=max_failures - failures)
    until = outbox.now() + timedelta(minutes=lock_minutes)
    await s.execute(update(User).where(User.id == user_id).values(pin_failures=0, pin_locked_until=until))
    user = await s.get(User, user_id)
    row = await outbox.add(s, user.msisdn, lock_sms(user, until), "pin-lock", essential=True)
    return PinCheck(False, locked_until=until, dispatch=tuple(outbox.to_dispatch([row])))
