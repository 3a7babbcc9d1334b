"""A forgotten PIN: the user asks (USSD), support checks who they are and issues a one-time reset (CLI), the
user's next dial sets a new PIN, and money actions then wait PIN_RESET_HOLD_HOURS. The owner gets an SMS at
each step, so a reset nobody asked for is noticed.

One open reset per user (requested or issued), kept so by a unique column (`PinReset.open_for`). Every step is
a conditional UPDATE on the state it expects, so a repeated request, a second `pin reset` or a retransmitted hop
does nothing twice; each SMS is deduplicated by the reset's id. The clock is `outbox.now` (tests move it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.models import PinReset, User
from enerlectra.domain import audit, outbox
from enerlectra.domain.clusters.texts import when as local_when
from enerlectra.domain.pin_code import stored_for
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _

Texts = Callable[[User, "datetime | None"], str]   # the owner's SMS (with the step's `until`), in their language


class ResetRefused(Exception):
    """`pin reset` found nothing it may issue; the message is the one line the operator sees."""


@dataclass(frozen=True)
class Step:
    reset_id: int
    state: str
    created: bool                      # False: this step had happened already (a repeat)
    until: datetime | None = None        # issued: the reset expires; used: the hold ends


def held_text(until: datetime, country: str) -> str:
    """What a held money action answers (USSD and SMS): a day or more, so the date too."""
    return _("Your PIN was reset. To keep your money safe, money actions wait until {when}.").format(
        when=local_when(until, country))


async def _expire(s: AsyncSession, user_id: int | None = None) -> None:
    """An issued reset not used in time closes: the user may ask again."""
    where = [PinReset.state == "issued", PinReset.expires_at <= outbox.now()]
    if user_id is not None:
        where.append(PinReset.user_id == user_id)
    await s.execute(update(PinReset).where(*where).values(state="expired", open_for=None))


async def _open(s: AsyncSession, user_id: int) -> PinReset | None:
    return await s.scalar(select(PinReset).where(PinReset.open_for == user_id))


async def _sms(s: AsyncSession, user: User, reset_id: int, body: str, step: str) -> None:
    """The owner's SMS for this step, once per reset (sent after the commit)."""
    await outbox.add(s, user.msisdn, body, f"pin-reset-{step}", essential=True,
                     dedupe_key=f"pin-reset-{step}:{reset_id}")


async def ask(db: async_sessionmaker, user_id: int, text: Texts) -> Step:
    """The user asks for a reset (USSD "Forgot PIN"): recorded once; the owner is told by SMS once."""
    async with unit_of_work(db) as s:
        await _expire(s, user_id)
        found = await _open(s, user_id)
        if found is not None:
            return Step(found.id, found.state, False, aware_utc(found.expires_at))
        try:
            async with s.begin_nested():
                reset = PinReset(user_id=user_id, open_for=user_id, state="requested", forced=False,
                                 requested_at=outbox.now())
                s.add(reset)
        except IntegrityError:           # the same request from another hop won the race
            found = await _open(s, user_id)
            return Step(found.id, found.state, False, aware_utc(found.expires_at))
        user = await s.get(User, user_id)
        await _sms(s, user, reset.id, text(user, None), "asked")
        return Step(reset.id, "requested", True)


async def issue(db: async_sessionmaker, msisdn: str, *, valid_hours: int, hold_hours: int, force: bool,
                text: Texts, actor: audit.Actor = audit.CLI, note: str = "") -> Step:
    """Support confirmed who the caller is: the open request becomes a one-time reset for the next dial, and
    money actions are held from now. Issuing again while it is good repeats nothing (same expiry, no SMS, no
    audit row). Without an open request it refuses, unless `force` (support met the owner some other way).
    The issue is audited (pin.reset, by `actor`, with `note`: how the caller's identity was checked)."""
    now = outbox.now()
    async with unit_of_work(db) as s:
        user = await s.scalar(select(User).where(User.msisdn == msisdn))
        if user is None:
            raise ResetRefused(f"{msisdn} is not registered")
        await _expire(s, user.id)
        reset = await _open(s, user.id)
        if reset is not None and reset.state == "issued":
            return Step(reset.id, "issued", False, aware_utc(reset.expires_at))
        if reset is None and not force:
            raise ResetRefused(f"{msisdn} has not asked for a PIN reset (Settings > Forgot PIN); "
                               "--force to issue one anyway")
        before = {"reset": "requested" if reset is not None else None, "hold_until": user.pin_reset_hold_until}
        if reset is None:
            reset = PinReset(user_id=user.id, open_for=user.id, state="requested", forced=True, requested_at=now)
            s.add(reset)
            await s.flush()
        expires = now + timedelta(hours=valid_hours)
        won = await s.scalar(update(PinReset).where(PinReset.id == reset.id, PinReset.state == "requested")
                             .values(state="issued", issued_at=now, expires_at=expires).returning(PinReset.id))
        if won is None:                   # another `pin reset` issued it a moment ago
            await s.refresh(reset)
            return Step(reset.id, reset.state, False, aware_utc(reset.expires_at))
        await _hold(s, user.id, now + timedelta(hours=hold_hours))
        await _sms(s, user, reset.id, text(user, expires), "issued")
        audit.record(s, actor, "pin.reset", f"user:{user.id}", before=before,
                     after={"reset": "issued", "until": expires, "forced": reset.forced, "note": note,
                            "hold_until": now + timedelta(hours=hold_hours)})
        return Step(reset.id, "issued", True, expires)


async def due(db: async_sessionmaker, user_id: int) -> PinReset | None:
    """The reset this user's next dial must use (issued, not expired), if any."""
    async with db() as s:
        reset = await _open(s, user_id)
    if reset is None or reset.state != "issued" or aware_utc(reset.expires_at) <= outbox.now():
        return None
    return reset


async def complete(db: async_sessionmaker, user_id: int, pin_hash: str, *, hold_hours: int,
                   text: Texts) -> Step | None:
    """Set the new PIN (its first entry, sealed: stored bound to the user) with the issued reset (once): the
    wrong-PIN count and lock are cleared and money actions are held for `hold_hours` from now. None when no
    reset is good any more (used, expired)."""
    now, bound = outbox.now(), stored_for(pin_hash, user_id)
    async with unit_of_work(db) as s:
        reset_id = await s.scalar(
            update(PinReset).where(PinReset.open_for == user_id, PinReset.state == "issued",
                                   PinReset.expires_at > now)
            .values(state="used", used_at=now, open_for=None).returning(PinReset.id))
        if reset_id is None:
            return None
        until = now + timedelta(hours=hold_hours)
        await s.execute(update(User).where(User.id == user_id)
                        .values(pin_hash=bound, pin_failures=0, pin_locked_until=None))
        await _hold(s, user_id, until)
        user = await s.get(User, user_id)
        await _sms(s, user, reset_id, text(user, until), "done")
        return Step(reset_id, "used", True, until)


async def _hold(s: AsyncSession, user_id: int, until: datetime) -> None:
    await s.execute(update(User).where(User.id == user_id).values(pin_reset_hold_until=until))


async def open_requests(s: AsyncSession, limit: int = 50) -> list[tuple[PinReset, User]]:
    """Open resets, oldest first, with their users: what support works through."""
    await _expire(s)
    rows = await s.execute(select(PinReset, User).join(User, User.id == PinReset.user_id)
                           .where(PinReset.open_for.is_not(None)).order_by(PinReset.id).limit(limit))
    return [(reset, user) for reset, user in rows.all()]
