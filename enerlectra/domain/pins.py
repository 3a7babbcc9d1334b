"""Money PINs: three wrong in a row lock money actions for a while; the owner is told by SMS once.

The counter and the lock live in the users table, so a restart changes nothing. An attempt is reserved
(one conditional UPDATE) before the slow KDF runs and counted as a failure until it proves right: N guesses
at once evaluate at most the tries left, never N. Only the attempt that used the last try locks, so one lock
makes one SMS. No write transaction is held across the KDF.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import and_, bindparam, case, null, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra import faults
from enerlectra.db.models import User
from enerlectra.domain import outbox
from enerlectra.domain.pin_code import (KEYED, PLAIN, bind_to_user, hash_pin_async, needs_sealing, pin_key,
                                        scheme_of, verify_pin_async)
from enerlectra.domain.work import unit_of_work

log = logging.getLogger(__name__)

# No daylight saving in either country: fixed offsets are exact.
LOCAL_TIME = {"ZM": timezone(timedelta(hours=2)), "TZ": timezone(timedelta(hours=3))}


@dataclass(frozen=True)
class PinCheck:
    ok: bool
    locked_until: datetime | None = None     # set when money actions are locked (now or already)
    tries_left: int = 0
    locked_now: bool = False  # this very check locked them (and queued the owner's SMS)
    held: bool = False       # locked_until is the hold after a PIN reset (no try was taken)


def local_hhmm(when: datetime, country: str) -> str:
    return when.astimezone(LOCAL_TIME.get(country, timezone.utc)).strftime("%H:%M")


def aware_utc(when: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; ours are all UTC."""
    return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when


async def locked_until(db: async_sessionmaker, user_id: int) -> datetime | None:
    async with db() as s:
        until = aware_utc(await s.scalar(select(User.pin_locked_until).where(User.id == user_id)))
    return until if until is not None and until > outbox.now() else None


_HOLD_AND_LOCK = (select(User.pin_reset_hold_until, User.pin_locked_until)
                  .where(User.id == bindparam("user_id")))


async def hold_and_lock(db: async_sessionmaker, user_id: int) -> tuple[datetime | None, datetime | None]:
    """Both bars to money actions in one read: (the hold after a PIN reset, the wrong-PIN lock), each while it
    lasts."""
    async with db() as s:
        row = (await s.execute(_HOLD_AND_LOCK, {"user_id": user_id})).one_or_none()
    now = outbox.now()
    held, locked = (aware_utc(row[0]), aware_utc(row[1])) if row is not None else (None, None)
    return (held if held is not None and held > now else None, locked if locked is not None and locked > now else None)


async def held_until(db: async_sessionmaker, user_id: int) -> datetime | None:
    """When the hold on money actions after a PIN reset ends, while it lasts."""
    async with db() as s:
        return await _held(s, user_id)


async def _held(s: AsyncSession, user_id: int) -> datetime | None:
    until = aware_utc(await s.scalar(select(User.pin_reset_hold_until).where(User.id == user_id)))
    return until if until is not None and until > outbox.now() else None


async def check(db: async_sessionmaker, user_id: int, pin: str, *, max_failures: int, lock_minutes: int,
                lock_sms: Callable[[User, datetime], str], hold: bool = True, cost: int | None = None) -> PinCheck:
    """Verify a PIN for a money action: reserve a try, run the KDF outside any transaction, then settle
    the try (the lock SMS is queued in the same transaction as the lock). While a PIN reset's hold lasts
    (`hold`: this action is one it holds) the answer is that hold, and no try is taken. A right PIN stored
    at another cost than `cost` is hashed again (pin_code) and stored with the settle, unless the PIN changed
    meanwhile. A PIN stored unbound (plain or a bare first entry: written by a release from before binding,
    after migration 0022 ran) is never accepted and takes no try: it is logged for a PIN reset."""
    if faults.on("pin_no_reservation"):             # a planted defect (tests only): the check before issue 14
        return await _unreserved(db, user_id, pin, max_failures, lock_minutes, lock_sms)
    async with unit_of_work(db) as s:
        reserved = await _reserve(s, user_id, max_failures, hold)
    if isinstance(reserved, PinCheck):
        return reserved
    taken, stored = reserved
    scheme = scheme_of(stored)
    if scheme in (PLAIN, KEYED):
        log.error("user %s: PIN stored unbound (%s), which this release never accepts: a PIN reset gives a new "
                  "one (a process of a release from before sealing wrote it?)", user_id, scheme)
        await _give_back(db, user_id)
        return PinCheck(False, tries_left=max_failures - taken + 1)
    try:
        good = stored is not None and await verify_pin_async(pin, stored, user_id)
    except Exception:            # no answer (a process without the key: ledger.NoKey): the try is given back
        await _give_back(db, user_id)
        raise
    sealed = None
    if good and cost is not None and needs_sealing(stored, cost):
        try:
            sealed = bind_to_user(await hash_pin_async(pin, cost, key=pin_key()), user_id)
        except Exception:        # the right PIN stands, stored as it was; sealed again when typed next
            log.exception("PIN of user %s not sealed again", user_id)
    async with unit_of_work(db) as s:
        if sealed is not None:
            await s.execute(update(User).where(User.id == user_id, User.pin_hash == stored).values(pin_hash=sealed))
        return await _settle(s, user_id, good, taken, max_failures=max_failures, lock_minutes=lock_minutes,
                             lock_sms=lock_sms, hold=hold)


async def _give_back(db: async_sessionmaker, user_id: int) -> None:
    """The reserved try back, for a check that gave no answer."""
    async with unit_of_work(db) as s:
        await s.execute(update(User).where(User.id == user_id, User.pin_failures > 0,
                                           User.pin_locked_until.is_(None))
                        .values(pin_failures=User.pin_failures - 1))


async def _reserve(s: AsyncSession, user_id: int, max_failures: int, hold: bool) -> tuple[int, str] | PinCheck:
    """Take one try: (the failures count it makes, 1..max; the stored hash), or why none may be taken.

    One statement: on SQLite the writer lock is held for it alone, not for one loop turn per statement (issue
    18). A lock past its time is lifted by the same UPDATE (the try is then the first). When every try is
    taken by attempts still running, the account is about to lock (or one of them was right): callers see it
    as locked for now. While a PIN reset's hold lasts (`hold`), no try is taken and the hold is the answer."""
    now = outbox.now()
    lapsed = and_(User.pin_locked_until.is_not(None), User.pin_locked_until <= now)
    may_try = or_(and_(User.pin_locked_until.is_(None), User.pin_failures < max_failures), lapsed)
    not_held = or_(User.pin_reset_hold_until.is_(None), User.pin_reset_hold_until <= now) if hold else true()
    taken = (await s.execute(
        update(User).where(User.id == user_id, may_try, not_held)
        .values(pin_failures=case((lapsed, 1), else_=User.pin_failures + 1),
                pin_locked_until=case((lapsed, null()), else_=User.pin_locked_until))
        .returning(User.pin_failures, User.pin_hash))).first()
    if taken is not None:
        return taken.pin_failures, taken.pin_hash
    why = (await s.execute(select(User.pin_locked_until, User.pin_reset_hold_until)
                           .where(User.id == user_id))).first()
    held = aware_utc(why.pin_reset_hold_until) if why is not None and hold else None
    if held is not None and held > now:
        return PinCheck(False, locked_until=held, held=True)
    until = aware_utc(why.pin_locked_until) if why is not None else None
    return PinCheck(False, locked_until=until if until is not None and until > now else now + timedelta(minutes=1))


async def _settle(s: AsyncSession, user_id: int, good: bool, taken: int, *, max_failures: int,
                  lock_minutes: int, lock_sms: Callable[[User, datetime], str], hold: bool = True) -> PinCheck:
    """A right PIN clears the count; a wrong one keeps its reserved failure, and the one that used the
    last try locks (exactly one attempt can have taken it) and queues the lock SMS. A PIN reset completed
    while the KDF ran holds this action too (`hold`): the old PIN, right when typed, is what it stops."""
    if good:
        held = aware_utc(await s.scalar(update(User).where(User.id == user_id).values(pin_failures=0)
                                        .returning(User.pin_reset_hold_until)))
        if hold and held is not None and held > outbox.now():
            return PinCheck(False, locked_until=held, held=True)
        return PinCheck(True)
    if taken < max_failures:
        return PinCheck(False, tries_left=max_failures - taken)
    until = outbox.now() + timedelta(minutes=lock_minutes)
    locked = await s.scalar(update(User).where(User.id == user_id, User.pin_locked_until.is_(None),
                                               User.pin_failures >= max_failures)
                            .values(pin_locked_until=until).returning(User.id))
    if locked is None:                 # a right PIN in between cleared the tries (this one's too): nothing to lock
        return PinCheck(False, tries_left=max_failures)
    user = await s.get(User, user_id)
    await outbox.add(s, user.msisdn, lock_sms(user, until), "pin-lock", essential=True)
    return PinCheck(False, locked_until=until, locked_now=True)


async def _unreserved(db: async_sessionmaker, user_id: int, pin: str, max_failures: int, lock_minutes: int,
                      lock_sms: Callable[[User, datetime], str]) -> PinCheck:
    """The planted defect `pin_no_reservation` (enerlectra/faults.py; tests only): the check before issue 14,
    which read the lock, ran the KDF and only then counted the failure, so N guesses at once were N tries."""
    until = await locked_until(db, user_id)
    if until is not None:
        return PinCheck(False, locked_until=until)
    async with db() as s:
        stored = await s.scalar(select(User.pin_hash).where(User.id == user_id))
    good = stored is not None and await verify_pin_async(pin, stored, user_id)
    async with unit_of_work(db) as s:
        if good:
            await s.execute(update(User).where(User.id == user_id).values(pin_failures=0))
            return PinCheck(True)
        failures = await s.scalar(update(User).where(User.id == user_id)
                                  .values(pin_failures=User.pin_failures + 1).returning(User.pin_failures))
        if failures < max_failures:
            return PinCheck(False, tries_left=max_failures - failures)
        until = outbox.now() + timedelta(minutes=lock_minutes)
        await s.execute(update(User).where(User.id == user_id).values(pin_failures=0, pin_locked_until=until))
        user = await s.get(User, user_id)
        await outbox.add(s, user.msisdn, lock_sms(user, until), "pin-lock", essential=True)
        return PinCheck(False, locked_until=until, locked_now=True)
