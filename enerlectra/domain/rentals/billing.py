"""A rental's bill and reminders from its times: pure, integer arithmetic, no I/O.

The rules, in the order they apply (all amounts minor units, all times epoch seconds):
- Time: per STARTED hour after the free minutes, at most the daily cap per 24 billed hours. Started hours
  rather than minutes: the bill is then a whole number of the hourly price the terms screen showed, a renter
  can check it on their fingers, and a TZS bill stays whole shillings (a per-minute price of TSh 500/60 is not).
- Extensions are bought ahead (the caller takes `Extension.price` from the wallet when asked) and push the due
  time on. What they paid counts against the time charge; hours bought and not used are not refunded, so an
  extension is one money step, never undone.
- Late: per started hour after the due time plus the grace minutes.
- Ceiling: one rental never costs more than the bank is worth (`Tariff.device_price`, or what extensions
  already paid if that is more); the `capped` line shows what the ceiling took off.
- Lost (reported, or overdue past `lost_after_days`): the bill is the ceiling, all of it; `lost_penalty` tops
  the running charges up to it, so a lost bank is charged once, at the device price, however late it is
  declared. The deposit is never above the device price (tariff.py), so it is all kept.
- Settlement: the deposit pays first; `released` goes back; what is left, `owed`, the caller takes from the
  wallet if it can (balances never go negative: that is the caller's decision, these are the numbers).

A return at any station bills the same: the station is carried for the receipt, never priced.
A time before the start (a station clock behind ours) counts as the start: no rental runs backwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from enerlectra.domain.rentals.tariff import MOST_MINOR, Tariff

MINUTE, HOUR, DAY = 60, 3600, 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

DUE_SOON, OVERDUE, FINAL, LOST = "due_soon", "overdue", "final", "lost"


class BadExtension(ValueError):
    """An extension the rules refuse; the message says which rule ("hours", "late", "most")."""


def seconds(when: datetime | int) -> int:
    """Epoch seconds of an aware datetime (integer division: no float on the way), or the int itself."""
    if isinstance(when, datetime):
        if when.utcoffset() is None:
            raise ValueError("a naive datetime: give its zone")
        return (when - _EPOCH) // timedelta(seconds=1)
    if type(when) is not int:
        raise TypeError(f"a time is an aware datetime or epoch seconds, got {when!r}")
    return when


def _started(span: int, unit: int) -> int:
    """Started units in `span` seconds (0 for none)."""
    return -(-span // unit) if span > 0 else 0


@dataclass(frozen=True)
class Rental:
    """What billing needs of a rental row: its start, its due time, what extensions paid."""

    started_at: int
    due_at: int
    prepaid: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "started_at", seconds(self.started_at))
        object.__setattr__(self, "due_at", seconds(self.due_at))
        if type(self.prepaid) is not int or self.prepaid < 0:
            raise ValueError(f"prepaid must be a whole number >= 0, got {self.prepaid!r}")
        if self.due_at < self.started_at:
            raise ValueError("due before it started")


@dataclass(frozen=True)
class Returned:
    at: int
    station: str = ""          # any station: carried for the receipt, never priced

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", seconds(self.at))


@dataclass(frozen=True)
class Lost:
    at: int                    # when it was reported, or declared (lost_at)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", seconds(self.at))


@dataclass(frozen=True)
class Extension:
    hours: int
    price: int                 # take this from the wallet, then store `rental`
    rental: Rental             # the rental with its new due time and prepaid


@dataclass(frozen=True)
class Bill:
    currency: str
    lost: bool
    minutes: int               # started minutes from start to end
    hours: int                 # billed hours (started, after the free minutes)
    time_charge: int           # the hours at the hourly price, at most the daily cap per 24 of them
    prepaid: int               # already paid by extensions (counts against the time charge)
    late_hours: int
    late_fee: int
    lost_penalty: int          # tops a lost rental up to the ceiling
    capped: int                # taken off by the ceiling
    total: int                 # what the rental cost in all, prepaid included
    deposit: int
    from_deposit: int          # kept from the deposit
    released: int              # the deposit's rest, back to the wallet
    owed: int                  # still due beyond the deposit

    @property
    def due_now(self) -> int:
        """What settlement collects now: the total less what extensions paid."""
        return self.from_deposit + self.owed


def first_due_at(tariff: Tariff, started_at: datetime | int) -> int:
    return seconds(started_at) + tariff.hours * HOUR


def start(tariff: Tariff, started_at: datetime | int) -> Rental:
    return Rental(started_at=seconds(started_at), due_at=first_due_at(tariff, started_at))


def time_charge(tariff: Tariff, used: int) -> tuple[int, int]:
    """(billed hours, charge) for `used` seconds: started hours after the free minutes, capped per 24 hours."""
    hours = _started(used - tariff.free_minutes * MINUTE, HOUR)
    return hours, hours_price(tariff, hours)


def late_from(tariff: Tariff, due_at: int) -> int:
    return due_at + tariff.grace_minutes * MINUTE


def lost_at(tariff: Tariff, due_at: int) -> int:
    """When an unreturned bank is declared lost: `lost_after_days` after its due time."""
    return due_at + tariff.lost_after_days * DAY


def ceiling(tariff: Tariff, rental: Rental) -> int:
    """The most this rental can cost: the device price, or what extensions already paid if that is more."""
    return max(tariff.device_price, rental.prepaid)


def hours_price(tariff: Tariff, hours: int) -> int:
    """`hours` at the hourly price, at most the daily cap per 24 of them (time used and time bought alike)."""
    days, rest = divmod(hours, 24)
    return days * min(tariff.daily_cap, 24 * tariff.per_hour) + min(tariff.daily_cap, rest * tariff.per_hour)


def extend(tariff: Tariff, rental: Rental, hours: int, now: datetime | int) -> Extension:
    """Buy `hours` more before late fees start. Refused once they have started: moving the due time then
    would wipe late fees already run up (the renter returns the bank instead)."""
    if type(hours) is not int or not 1 <= hours <= tariff.max_extension_hours:
        raise BadExtension("hours")
    if seconds(now) >= late_from(tariff, rental.due_at):
        raise BadExtension("late")
    price = hours_price(tariff, hours)
    if rental.prepaid + price > MOST_MINOR:
        raise BadExtension("most")           # never reached by a person; keeps every figure within the texts
    return Extension(hours, price, Rental(rental.started_at, rental.due_at + hours * HOUR, rental.prepaid + price))


def bill(tariff: Tariff, rental: Rental, end: Returned | Lost) -> Bill:
    """The itemized bill of `rental` ended by `end`; the same input always gives the same figures."""
    ended = max(end.at, rental.started_at)
    hours, charge = time_charge(tariff, ended - rental.started_at)
    late_hours = _started(ended - late_from(tariff, rental.due_at), HOUR)
    running = max(charge, rental.prepaid) + late_hours * tariff.late_per_hour
    top = ceiling(tariff, rental)
    lost = isinstance(end, Lost)
    penalty = max(0, top - running) if lost else 0
    capped = max(0, running - top)
    total = running + penalty - capped
    due_now = total - rental.prepaid
    from_deposit = min(due_now, tariff.deposit)
    return Bill(currency=tariff.currency, lost=lost, minutes=_started(ended - rental.started_at, MINUTE),
                hours=hours, time_charge=charge, prepaid=rental.prepaid, late_hours=late_hours,
                late_fee=late_hours * tariff.late_per_hour, lost_penalty=penalty, capped=capped, total=total,
                deposit=tariff.deposit, from_deposit=from_deposit, released=tariff.deposit - from_deposit,
                owed=due_now - from_deposit)


def so_far(tariff: Tariff, rental: Rental, now: datetime | int) -> Bill:
    """"My rental": the bill if the bank went back now."""
    return bill(tariff, rental, Returned(seconds(now)))


@dataclass(frozen=True)
class Reminder:
    kind: str                  # DUE_SOON, OVERDUE, FINAL (before lost), LOST (declare it)
    at: int


def reminders(tariff: Tariff, rental: Rental) -> tuple[Reminder, ...]:
    """When to tell the renter, in time order: 'due soon' `remind_minutes` before the due time (if the rental
    is that long; 0: none), 'overdue' when late fees start and every 24 hours after, a final notice a day
    before the bank is declared lost (halfway there if that is sooner), then LOST: declare it and bill it.

    An extension moves the due time: a job scheduled from the old list sends only if its reminder is still
    in `reminders(tariff, rental)` of the rental as it is now."""
    due, late, lost = rental.due_at, late_from(tariff, rental.due_at), lost_at(tariff, rental.due_at)
    final = lost - min(DAY, (lost - late) // 2)
    found = []
    if tariff.remind_minutes and due - tariff.remind_minutes * MINUTE > rental.started_at:
        found.append(Reminder(DUE_SOON, due - tariff.remind_minutes * MINUTE))
    found += [Reminder(OVERDUE, at) for at in range(late, final, DAY)]
    return (*found, Reminder(FINAL, final), Reminder(LOST, lost))


def is_lost(tariff: Tariff, rental: Rental, now: datetime | int) -> bool:
    return seconds(now) >= lost_at(tariff, rental.due_at)
