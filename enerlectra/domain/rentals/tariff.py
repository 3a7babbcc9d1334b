"""A rental tariff per currency: the prices (RENTAL_TARIFFS, minor units) and the times (RENTAL_* minutes,
hours, days) that billing.py applies. Pure data, checked once when it is built.

Amounts are integer minor units as everywhere (money.py): ngwee for ZMW, cents for TZS. Tanzanians count in
whole shillings (money.WHOLE), so a TZS tariff must be whole shillings: every bill line is a multiple or a
minimum of tariff amounts, so then every bill is whole shillings too.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from enerlectra.domain.money import WHOLE, decimals
from enerlectra.settings import Settings, rental_prices

# The most any tariff amount may be (K999,999.99): the texts are checked within budget up to it.
MOST_MINOR = 99_999_999


class NoTariff(LookupError):
    """No rental tariff for this currency: rentals are not offered in it."""


@dataclass(frozen=True)
class Tariff:
    currency: str
    deposit: int              # held from the wallet at rent time, released on return less the bill
    per_hour: int             # per started hour after the free minutes
    free_minutes: int         # a bank back within this costs nothing
    daily_cap: int            # the most the time of one 24-hour day costs
    grace_minutes: int        # after the due time, before late fees start
    late_per_hour: int        # per started hour after the grace period
    device_price: int         # what a lost bank costs; also the most any rental costs (billing.py)
    max_extension_hours: int  # the most hours one extension may buy
    hours: int = 24           # a rental is due this long after it starts
    remind_minutes: int = 15  # "due soon" this long before the due time (0: no such reminder)
    lost_after_days: int = 3  # overdue this long: declared lost
    found_refund_days: int = 30   # a lost bank back within this many days of the loss: re-billed, the rest back

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "currency" and (type(value) is not int or value < 0):
                raise ValueError(f"{f.name} must be a whole number >= 0, got {value!r}")
        amounts = (self.deposit, self.per_hour, self.daily_cap, self.late_per_hour, self.device_price)
        if max(amounts) > MOST_MINOR:
            raise ValueError(f"an amount above {MOST_MINOR} minor units")
        if self.currency in WHOLE and any(a % 10 ** decimals(self.currency) for a in amounts):
            raise ValueError(f"{self.currency} amounts must be whole units (multiples of 100 minor units)")
        if not 0 < self.per_hour <= self.daily_cap:
            raise ValueError("the price per hour must be above 0 and at most the daily cap")
        if self.deposit > self.device_price:
            raise ValueError("a deposit above the device price could not all be kept for a lost bank")
        if self.hours < 1 or self.lost_after_days < 1 or self.max_extension_hours < 1:
            raise ValueError("hours, max_extension_hours and lost_after_days must be at least 1")
        if max(self.free_minutes, self.grace_minutes, self.remind_minutes) > 120 or max(
                self.hours, self.max_extension_hours) > 168 or self.lost_after_days > 90:
            raise ValueError("at most 120 minutes, 168 hours (a week) and 90 days: the texts show them")
        if self.found_refund_days > 3650:
            raise ValueError("found_refund_days: at most 3650 (ten years)")
        if self.free_minutes >= self.hours * 60:
            raise ValueError("free minutes must be shorter than the rental (hours)")


def tariffs(settings: Settings) -> dict[str, Tariff]:
    """Every configured currency's tariff (RENTAL_TARIFFS over the defaults, RENTAL_* times)."""
    return {currency: Tariff(currency=currency, deposit=p["deposit"], per_hour=p["hour"],
                             free_minutes=settings.rental_free_minutes, daily_cap=p["cap"],
                             grace_minutes=settings.rental_grace_minutes, late_per_hour=p["late"],
                             device_price=p["device"], max_extension_hours=settings.rental_max_extension_hours,
                             hours=settings.rental_hours, remind_minutes=settings.rental_remind_minutes,
                             lost_after_days=settings.rental_lost_after_days,
                             found_refund_days=settings.rental_found_refund_days)
            for currency, p in rental_prices(settings.rental_tariffs).items()}


def tariff_for(settings: Settings, currency: str) -> Tariff:
    try:
        return tariffs(settings)[currency]
    except KeyError:
        raise NoTariff(currency) from None
