"""What support sees and does for a forgotten PIN (`enerlectra pin requests`, `enerlectra pin reset`).

A request lists the user's name, number and recent activity (ledger lines and payments) so support can ask
the caller about them before issuing a reset. Every answer is plain lines; errors are one line.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.models import Payment, User
from enerlectra.domain import audit, ledger, pin_resets
from enerlectra.domain.money import format_energy, format_money
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_texts import pin_reset_issued_text
from enerlectra.domain.pins import aware_utc
from enerlectra.i18n import in_language_of
from enerlectra.settings import Settings

RECENT = 3            # ledger lines and payments shown per request


def e164(raw: str) -> str:
    """The number as support typed it, or a one-line refusal (ResetRefused) saying what to type."""
    try:
        return parse_msisdn(raw).e164
    except ValueError as exc:
        raise pin_resets.ResetRefused(f"{raw!r}: {exc}; use E.164 like +260971234567") from None


def _stamp(when) -> str:
    return f"{aware_utc(when):%Y-%m-%d %H:%M} UTC" if when is not None else "-"


async def _activity(s: AsyncSession, user: User) -> list[str]:
    codes = [ledger.user_code(user.id, user.currency), ledger.user_code(user.id, ledger.ENERGY)]
    lines = []
    for line in await ledger.history(s, codes, limit=RECENT):
        shown = format_energy(line.amount) if line.asset == ledger.ENERGY else format_money(line.amount, line.asset)
        lines.append(f"  ledger {_stamp(line.when)} {line.kind} {shown}")
    payments = (await s.scalars(select(Payment).where(Payment.user_id == user.id)
                                .order_by(Payment.id.desc()).limit(RECENT))).all()
    for p in payments:
        lines.append(f"  payment {_stamp(p.created_at)} {p.provider} {p.direction} {p.msisdn} "
                     f"{format_money(p.amount, p.currency)} {p.state}")
    return lines or ["  no ledger lines or payments yet"]


async def requests(db: async_sessionmaker, limit: int) -> list[str]:
    async with db() as s, s.begin():
        found = await pin_resets.open_requests(s, limit)
        out = []
        for reset, user in found:
            state = "asked" if reset.state == "requested" else f"issued, good until {_stamp(reset.expires_at)}"
            out.append(f"{user.msisdn} {user.name} ({user.country}, {user.language}, since "
                       f"{aware_utc(user.created_at):%Y-%m-%d}): {state}; asked {_stamp(reset.requested_at)}")
            out.extend(await _activity(s, user))
    return out or ["no open PIN reset requests"]


async def issue(db: async_sessionmaker, settings: Settings, raw: str, force: bool,
                actor: audit.Actor = audit.CLI, note: str = "") -> pin_resets.Step:
    """Issue the one-time reset (audited as pin.reset by `actor`, with `note`: how the caller was checked).
    ResetRefused: the number is not one, not registered, or (without `force`) has not asked."""
    return await pin_resets.issue(db, e164(raw), valid_hours=settings.pin_reset_valid_hours,
                                  hold_hours=settings.pin_reset_hold_hours, force=force,
                                  text=lambda user, until: in_language_of(user, pin_reset_issued_text, until),
                                  actor=actor, note=note)


async def reset(db: async_sessionmaker, settings: Settings, raw: str, force: bool,
                actor: audit.Actor = audit.CLI, note: str = "") -> str:
    """`enerlectra pin reset`: `issue`, said in one line."""
    msisdn = e164(raw)
    step = await issue(db, settings, msisdn, force, actor, note)
    if not step.created:
        return f"{msisdn}: a reset is issued already, good until {_stamp(step.until)}; nothing changed"
    return (f"{msisdn}: reset issued, good until {_stamp(step.until)}; their next dial chooses a new PIN; money "
            f"actions held {settings.pin_reset_hold_hours} h; the owner gets an SMS")


async def unlock(db: async_sessionmaker, user_id: int, actor: audit.Actor) -> bool:
    """Clear the wrong-PIN count and lock (support, after an identity check), audited as pin.unlock in the same
    transaction. False: nothing was counted or locked, so nothing changes and no row is written (a repeat)."""
    async with db() as s, s.begin():
        row = (await s.execute(select(User.pin_failures, User.pin_locked_until)
                               .where(User.id == user_id).with_for_update())).first()
        if row is None:
            raise pin_resets.ResetRefused(f"no user #{user_id}")
        if not row.pin_failures and row.pin_locked_until is None:
            return False
        await s.execute(update(User).where(User.id == user_id).values(pin_failures=0, pin_locked_until=None))
        audit.record(s, actor, "pin.unlock", f"user:{user_id}",
                     before={"pin_failures": row.pin_failures, "pin_locked_until": row.pin_locked_until},
                     after={"pin_failures": 0, "pin_locked_until": None})
        return True
