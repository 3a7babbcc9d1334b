"""Prosumer meters: cumulative readings turned into energy credits (export) and debits (import).

A reading is kept once per meter and timestamp (a repeat changes nothing) and must be newer than the
last one. The first reading is the baseline: nothing before it is credited. A reading that goes
backwards, or exports/imports more than METER_MAX_WH_PER_HOUR allows for the time since the last one,
is flagged for an operator and never credited; the meter's last good values stay the reference.
Export comes from the `clearing:meters` account; import draws on the user's energy credits (bought or
earned) as far as they go, the rest is left to the grid bill.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_app.db.models import Account, Meter, MeterReading, User
from ussd_app.domain import ledger
from ussd_app.domain.ledger import Leg
from ussd_app.domain.pins import aware_utc

SECRET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no 0/O or 1/I: it is typed into a meter
FUTURE_SLACK = timedelta(minutes=5)


class UnknownMeter(LookupError):
    """No such meter, or the secret does not match (callers cannot tell which)."""


class OutOfOrder(ValueError):
    """Older than the meter's last reading."""


class MeterTaken(ValueError):
    """That meter number is registered already."""


@dataclass(frozen=True)
class Reading:
    number: str
    export_wh: int
    import_wh: int
    read_at: datetime


@dataclass(frozen=True)
class Outcome:
    status: str                # baseline / credited / duplicate / flagged
    credited_wh: int = 0
    debited_wh: int = 0
    reason: str | None = None


def new_secret() -> str:
    raw = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.strip().upper().encode()).hexdigest()


async def register(s: AsyncSession, user: User, number: str) -> str:
    """Register a meter to the user; returns its secret (shown once, stored only as a hash)."""
    secret = new_secret()
    try:
        async with s.begin_nested():
            s.add(Meter(number=number.strip().upper(), user_id=user.id, secret_hash=hash_secret(secret)))
    except IntegrityError:
        raise MeterTaken(number) from None
    return secret


async def record(s: AsyncSession, reading: Reading, secret: str, max_wh_per_hour: int,
                 now: datetime | None = None) -> Outcome:
    """Apply one reading inside the caller's transaction. Raises UnknownMeter, OutOfOrder, ValueError."""
    now = now or datetime.now(timezone.utc)
    if reading.export_wh < 0 or reading.import_wh < 0:
        raise ValueError("readings are cumulative Wh, never negative")
    if reading.read_at > now + FUTURE_SLACK:
        raise ValueError("timestamp is in the future")
    meter = (await s.execute(select(Meter).where(Meter.number == reading.number.strip().upper())
                             .with_for_update())).scalar_one_or_none()
    if meter is None or not hmac.compare_digest(meter.secret_hash, hash_secret(secret)):
        raise UnknownMeter(reading.number)
    seen = await s.scalar(select(MeterReading).where(MeterReading.meter_id == meter.id,
                                                     MeterReading.read_at == reading.read_at))
    if seen is not None:
        return Outcome("duplicate", seen.credited_wh, seen.debited_wh, seen.reason)
    last_at = aware_utc(meter.last_read_at)
    if last_at is not None and reading.read_at < last_at:
        raise OutOfOrder(f"last reading was at {last_at.isoformat()}")
    outcome = _judge(meter, reading, last_at, max_wh_per_hour)
    row = MeterReading(meter_id=meter.id, read_at=reading.read_at, export_wh=reading.export_wh,
                       import_wh=reading.import_wh, status=outcome.status, reason=outcome.reason,
                       credited_wh=0, debited_wh=0)
    s.add(row)
    await s.flush()
    if outcome.status == "flagged":
        return outcome
    if outcome.status == "credited":
        outcome, row.entry_id = await _post(s, meter, reading, outcome)
        row.credited_wh, row.debited_wh = outcome.credited_wh, outcome.debited_wh
    meter.last_export_wh, meter.last_import_wh = reading.export_wh, reading.import_wh
    meter.last_read_at = reading.read_at
    return outcome


def _judge(meter: Meter, reading: Reading, last_at: datetime | None, max_wh_per_hour: int) -> Outcome:
    if last_at is None:
        return Outcome("baseline")
    exported, imported = reading.export_wh - meter.last_export_wh, reading.import_wh - meter.last_import_wh
    if exported < 0 or imported < 0:
        return Outcome("flagged", reason="backwards")
    seconds = max((reading.read_at - last_at).total_seconds(), 60)
    most = max_wh_per_hour * seconds / 3600
    if exported > most or imported > most:
        return Outcome("flagged", reason=f"jump: more than {max_wh_per_hour} Wh per hour")
    return Outcome("credited", exported, imported)


async def _post(s: AsyncSession, meter: Meter, reading: Reading, outcome: Outcome) -> tuple[Outcome, int | None]:
    energy = await ledger.user_energy(s, meter.user_id)
    grid = await ledger.system(s, "clearing:meters", ledger.ENERGY)
    # Lock the energy account before reading its balance: a sale cannot spend it in between.
    balance = (await s.execute(select(Account.balance).where(Account.id == energy.id).with_for_update())).scalar_one()
    debited = min(outcome.debited_wh, balance + outcome.credited_wh)
    net = outcome.credited_wh - debited
    if net == 0 and outcome.credited_wh == 0:
        return Outcome("credited", 0, 0), None
    posted = await ledger.post(s, f"meter:{meter.id}:{reading.read_at.isoformat()}", "meter",
                               [Leg(grid.id, -outcome.credited_wh), Leg(energy.id, outcome.credited_wh),
                                Leg(energy.id, -debited), Leg(grid.id, debited)],
                               memo=f"meter {meter.number}: +{outcome.credited_wh} -{debited} Wh")
    return Outcome("credited", outcome.credited_wh, debited), posted.entry_id


async def flagged(s: AsyncSession, limit: int = 50) -> list[tuple[str, str, MeterReading]]:
    """Readings kept for an operator (backwards, implausible jumps), newest first: (meter, owner, reading)."""
    rows = (await s.execute(select(Meter.number, User.msisdn, MeterReading)
                            .join(Meter, Meter.id == MeterReading.meter_id).join(User, User.id == Meter.user_id)
                            .where(MeterReading.status == "flagged")
                            .order_by(MeterReading.id.desc()).limit(limit))).all()
    return [(number, msisdn, reading) for number, msisdn, reading in rows]
