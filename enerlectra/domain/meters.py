"""Prosumer meters: cumulative readings turned into energy credits (export) and debits (import).

An operator registers a meter (`enerlectra meter add`) with its own serial, the secret its manufacturer or
installer set in it, and its register values then: they are the baseline, dated at registration (never
earlier), so no energy from before the meter was ours can be credited. Users never see a secret.

A reading is kept once per meter and timestamp (a repeat changes nothing). It must be newer than the last
one and not older than `Limits.max_age` (else OutOfOrder/TooOld: 409). A reading that goes backwards, or
exports more than a cap allows (per hour since the last reading, per reading, or per local day for the meter
counting what was credited today), is flagged for an operator and never credited; the meter's last good
values stay the reference, so the energy is credited by a later reading that fits the caps.
After a meter swap an operator resets the baseline (`reset_baseline`, `enerlectra meter reset-baseline`):
the registers are cleared and the next reading, dated after the reset, becomes the new baseline.
Export comes from the `clearing:meters` account; import draws on the user's energy credits (bought or
earned) as far as they go, the rest is left to the grid bill.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Account, Meter, MeterReading, User
from enerlectra.domain import ledger, outbox
from enerlectra.domain.advisor.questions import day_start
from enerlectra.domain.ledger import Leg
from enerlectra.domain.pins import aware_utc

FUTURE_SLACK = timedelta(minutes=5)
MIN_SECRET = 8                     # characters: a secret shorter than this is refused at registration


class UnknownMeter(LookupError):
    """No such meter, or the secret does not match (callers cannot tell which)."""


class OutOfOrder(ValueError):
    """Older than the meter's last reading."""


class TooOld(OutOfOrder):
    """Older than the readings we still accept (a stored-up or backdated reading)."""


class MeterTaken(ValueError):
    """That serial is registered already."""


@dataclass(frozen=True)
class Limits:
    """What one reading may credit; beyond any of these it is flagged for an operator."""
    per_hour: int                  # Wh per hour since the last reading (export or import)
    per_reading: int               # Wh exported in one reading
    per_day: int                   # Wh credited per meter and local day
    max_age: timedelta             # readings older than this are refused
    receipt_every: timedelta = timedelta(0)     # at most one owner's SMS per meter this often (0: every credit)

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(settings.meter_max_wh_per_hour, settings.meter_max_wh_per_reading,
                   settings.meter_max_wh_per_day, timedelta(hours=settings.meter_max_reading_age_hours),
                   timedelta(hours=settings.meter_receipt_hours))


@dataclass(frozen=True)
class Reading:
    number: str                    # the meter's serial
    export_wh: int
    import_wh: int
    read_at: datetime


@dataclass(frozen=True)
class Outcome:
    status: str                # baseline / credited / duplicate / flagged
    credited_wh: int = 0
    debited_wh: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What the owner's SMS after a credited reading says (rendered in their language by the caller)."""
    serial: str
    credited_wh: int
    debited_wh: int
    today_wh: int                  # credited by this meter since local midnight, this reading included
    balance_wh: int                # the owner's energy now


@dataclass(frozen=True)
class MeterView:
    """One meter as its owner sees it."""
    serial: str
    last_read_at: datetime | None
    credited_today_wh: int


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.strip().upper().encode()).hexdigest()


def normal_serial(serial: str) -> str:
    """The serial as stored: upper case; letters, digits and dashes, 3 to 40 of them (else ValueError)."""
    serial = serial.strip().upper()
    if not (3 <= len(serial) <= 40 and serial.isascii() and all(ch.isalnum() or ch == "-" for ch in serial)):
        raise ValueError("serial: letters, digits and dashes, 3 to 40 of them")
    return serial


async def register(s: AsyncSession, user: User, serial: str, secret: str, export_wh: int, import_wh: int,
                   now: datetime | None = None) -> Meter:
    """An operator registers a meter to the user; its register values now are the baseline.

    `now` is the registration time (tests and the simulator's day-old registrations pass one; the CLI never
    does). Raises MeterTaken for a serial registered already, ValueError for a bad serial, secret or value.
    """
    serial = normal_serial(serial)
    if len(secret.strip()) < MIN_SECRET:
        raise ValueError(f"secret: at least {MIN_SECRET} characters")
    if min(export_wh, import_wh) < 0:
        raise ValueError("register values are cumulative Wh, never negative")
    now = now or datetime.now(timezone.utc)
    meter = Meter(number=serial, user_id=user.id, secret_hash=hash_secret(secret), last_export_wh=export_wh,
                  last_import_wh=import_wh, last_read_at=now)
    try:
        async with s.begin_nested():
            s.add(meter)
            await s.flush()
    except IntegrityError:
        raise MeterTaken(serial) from None
    s.add(MeterReading(meter_id=meter.id, read_at=now, export_wh=export_wh, import_wh=import_wh,
                       status="baseline", reason="registered by an operator", credited_wh=0, debited_wh=0,
                       received_at=now))
    await s.flush()
    return meter


async def record(s: AsyncSession, reading: Reading, secret: str, limits: Limits,
                 now: datetime | None = None, receipt: Callable[[User, Receipt], str] | None = None) -> Outcome:
    """Apply one reading inside the caller's transaction; `receipt` renders the owner's SMS for a credit.

    Raises UnknownMeter, OutOfOrder (and its TooOld), ValueError (negative, in the future)."""
    now = now or datetime.now(timezone.utc)
    if reading.export_wh < 0 or reading.import_wh < 0:
        raise ValueError("readings are cumulative Wh, never negative")
    if reading.read_at > now + FUTURE_SLACK:
        raise ValueError("timestamp is in the future")
    # The meter's row lock serialises its readings: the day's total below cannot change under us.
    meter = (await s.execute(select(Meter).where(Meter.number == reading.number.strip().upper())
                             .with_for_update())).scalar_one_or_none()
    if meter is None or not hmac.compare_digest(meter.secret_hash, hash_secret(secret)):
        raise UnknownMeter(reading.number)
    seen = await s.scalar(select(MeterReading).where(MeterReading.meter_id == meter.id,
                                                     MeterReading.read_at == reading.read_at))
    if seen is not None:
        return Outcome("duplicate", seen.credited_wh, seen.debited_wh, seen.reason)
    _check_order(reading, aware_utc(meter.last_read_at), limits, now)
    country = await s.scalar(select(User.country).where(User.id == meter.user_id))
    today = await credited_since(s, meter.id, day_start(now, country))
    outcome = judge(meter, reading, limits, today)
    row = MeterReading(meter_id=meter.id, read_at=reading.read_at, export_wh=reading.export_wh,
                       import_wh=reading.import_wh, status=outcome.status, reason=outcome.reason,
                       credited_wh=0, debited_wh=0, received_at=now)
    s.add(row)
    await s.flush()
    if outcome.status == "flagged":
        return outcome
    if outcome.status == "credited":
        outcome, row.entry_id = await _post(s, meter, reading, outcome)
        row.credited_wh, row.debited_wh = outcome.credited_wh, outcome.debited_wh
        if receipt is not None and outcome.credited_wh > 0:
            outcome = await _tell_owner(s, meter, outcome, today + outcome.credited_wh, limits, now, receipt,
                                          row.entry_id)
    meter.last_export_wh, meter.last_import_wh = reading.export_wh, reading.import_wh
    meter.last_read_at = reading.read_at
    return outcome


async def _tell_owner(s: AsyncSession, meter: Meter, outcome: Outcome, today_wh: int, limits: Limits,
                      now: datetime, receipt: Callable[[User, Receipt], str], entry_id: int) -> Outcome:
    """One SMS per meter and `receipt_every` window (a meter may report every few minutes: the SMS says the
    day's total, so a credit that did not get its own SMS shows in the next one and on the My meters screen)."""
    every = limits.receipt_every.total_seconds()
    window = f"w{int(now.timestamp() // every)}" if every > 0 else f"e{entry_id}"
    owner = await s.get(User, meter.user_id)
    balance = await s.scalar(select(Account.balance).where(Account.code == ledger.user_code(owner.id, ledger.ENERGY)))
    body = receipt(owner, Receipt(meter.number, outcome.credited_wh, outcome.debited_wh, today_wh, balance or 0))
    await outbox.add(s, owner.msisdn, body, "meter", essential=True, dedupe_key=f"meter:{meter.id}:{window}")
    return outcome


def _check_order(reading: Reading, last_at: datetime | None, limits: Limits, now: datetime) -> None:
    if reading.read_at < now - limits.max_age:
        raise TooOld(f"older than {limits.max_age.total_seconds() / 3600:g} hours")
    if last_at is not None and reading.read_at < last_at:
        raise OutOfOrder(f"last reading was at {last_at.isoformat()}")


async def credited_since(s: AsyncSession, meter_id: int, since: datetime) -> int:
    """Wh credited to the meter's owner by readings received since `since`."""
    total = await s.scalar(select(func.coalesce(func.sum(MeterReading.credited_wh), 0))
                           .where(MeterReading.meter_id == meter_id, MeterReading.status == "credited",
                                  MeterReading.received_at >= since))
    return int(total or 0)


def judge(meter: Meter, reading: Reading, limits: Limits, credited_today: int) -> Outcome:
    """What a reading newer than the last one earns (pure): baseline, credited, or flagged with a reason."""
    last_at = aware_utc(meter.last_read_at)
    if last_at is None:                 # a meter registered before baselines were set at registration
        return Outcome("baseline")
    if meter.last_export_wh is None or meter.last_import_wh is None:     # reset_baseline: a swapped meter
        return Outcome("baseline", reason=RESET_REASON)
    exported, imported = reading.export_wh - meter.last_export_wh, reading.import_wh - meter.last_import_wh
    if exported < 0 or imported < 0:
        return Outcome("flagged", reason="backwards")
    seconds = (reading.read_at - last_at).total_seconds()      # no floor: readings microseconds apart earn ~0
    most = limits.per_hour * seconds / 3600
    if exported > most or imported > most:
        return Outcome("flagged", reason=f"jump: more than {limits.per_hour} Wh per hour")
    if exported > limits.per_reading:
        return Outcome("flagged", reason=f"more than {limits.per_reading} Wh in one reading")
    if credited_today + exported > limits.per_day:
        return Outcome("flagged", reason=f"more than {limits.per_day} Wh today ({credited_today} credited)")
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


RESET_REASON = "new baseline after an operator's reset"


def _registers(meter: Meter) -> dict:
    read = aware_utc(meter.last_read_at)
    return {"export_wh": meter.last_export_wh, "import_wh": meter.last_import_wh,
            "read_at": read.isoformat() if read else None}


async def reset_baseline(s: AsyncSession, serial: str, now: datetime | None = None) -> dict:
    """After a meter swap (an operator, inside the caller's transaction): the meter's next reading becomes its
    baseline, so the jump between the old registers and the new meter's credits nothing and is not flagged.
    Readings dated before the reset are refused as out of order (the old meter's stragglers).

    Idempotent: while a reset waits for its reading, another one changes nothing (`changed` False). Returns
    {"serial", "changed", "before", "after"} for the audit row. Raises UnknownMeter."""
    now = now or datetime.now(timezone.utc)
    meter = (await s.execute(select(Meter).where(Meter.number == serial.strip().upper())
                             .with_for_update())).scalar_one_or_none()
    if meter is None:
        raise UnknownMeter(serial)
    before = _registers(meter)
    pending = meter.last_export_wh is None and meter.last_import_wh is None and meter.last_read_at is not None
    if not pending:
        last = aware_utc(meter.last_read_at)
        meter.last_export_wh = meter.last_import_wh = None
        meter.last_read_at = max(last, now) if last else now
        await s.flush()
    return {"serial": meter.number, "changed": not pending, "before": before, "after": _registers(meter)}


async def of_user(s: AsyncSession, user_id: int, country: str,
                  now: datetime | None = None) -> list[MeterView]:
    """The user's meters, oldest first, with what each credited since local midnight."""
    since = day_start(now or datetime.now(timezone.utc), country)
    today = (select(MeterReading.meter_id, func.sum(MeterReading.credited_wh).label("wh"))
             .where(MeterReading.status == "credited", MeterReading.received_at >= since)
             .group_by(MeterReading.meter_id).subquery())
    rows = (await s.execute(select(Meter.number, Meter.last_read_at, func.coalesce(today.c.wh, 0))
                            .outerjoin(today, today.c.meter_id == Meter.id)
                            .where(Meter.user_id == user_id).order_by(Meter.id))).all()
    return [MeterView(number, aware_utc(last), int(wh)) for number, last, wh in rows]


async def flagged(s: AsyncSession, limit: int = 50) -> list[tuple[str, str, MeterReading]]:
    """Readings kept for an operator (backwards, over a cap), newest first: (meter, owner, reading)."""
    rows = (await s.execute(select(Meter.number, User.msisdn, MeterReading)
                            .join(Meter, Meter.id == MeterReading.meter_id).join(User, User.id == Meter.user_id)
                            .where(MeterReading.status == "flagged")
                            .order_by(MeterReading.id.desc()).limit(limit))).all()
    return [(number, msisdn, reading) for number, msisdn, reading in rows]
