"""What a renter reads: the terms before renting (a USSD screen), the receipt SMS when a rental ends, and the
reminders (due soon, overdue, the final notice before the bank is declared lost).

In the current language (callers switch to the renter's: i18n.in_language_of). Each fits its budget with the
longest station name and the largest amounts a tariff allows (tests/test_rental_billing.py checks every
language): the receipt one SMS, the terms 160 septets less room for the menu's choices under them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from enerlectra.domain.clusters.texts import when
from enerlectra.domain.money import format_money
from enerlectra.domain.pins import local_hhmm
from enerlectra.domain.rentals.billing import Bill, Rental, ceiling, lost_at
from enerlectra.domain.rentals.tariff import Tariff
from enerlectra.i18n import _

STATION_NAME_MAX = 20          # the longest station name the texts show (longer ones are cut, never the text)
TERMS_SEPTETS = 160 - 24       # the menu adds its choices ("1 Rent", "0 Back") under the terms


def station_label(name: str) -> str:
    return name.strip()[:STATION_NAME_MAX].rstrip()


def used_time(minutes: int) -> str:
    """'26:05' hours:minutes, the same in every language."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def terms_text(tariff: Tariff, station: str) -> str:
    """The terms before the PIN: deposit, price per hour, free minutes, daily cap, and when late fees start."""
    money = tariff.currency
    return _("{station}: deposit {deposit}. {price}/hour after {free} free min, max {cap}/day. Late after "
             "{hours}h: {late}/hour.").format(
        station=station_label(station), deposit=format_money(tariff.deposit, money),
        price=format_money(tariff.per_hour, money), free=tariff.free_minutes,
        cap=format_money(tariff.daily_cap, money), hours=tariff.hours, late=format_money(tariff.late_per_hour, money))


def owed_terms_text(tariff: Tariff, station: str, owed: int) -> str:
    """The terms when the renter still owes for an earlier rental: renting pays that first (service._rent), so
    the screen says it, and leaves out the cap and the late fees to stay within one screen."""
    money = tariff.currency
    return _("Renting pays the {owed} you owe first. {station}: deposit {deposit}. {price}/hour after {free} free "
             "min.").format(
        owed=format_money(owed, money), station=station_label(station), deposit=format_money(tariff.deposit, money),
        price=format_money(tariff.per_hour, money), free=tariff.free_minutes)


def debts_paid_text(user, ref: int, amount: int, currency: str) -> str:
    """The SMS when a rent paid what the renter owed for earlier rentals from the wallet."""
    return _("Enerlectra R{ref}: {amount} you owed for an earlier power bank is paid from your wallet.").format(
        ref=ref, amount=format_money(amount, currency))


def receipt_text(user, bill: Bill, station: str, returned_at: datetime | int, ref: int) -> str:
    """The SMS when a bank comes back (at any station): time used, cost, the deposit back, or what the wallet
    pays beyond the deposit when the bill is larger than it (the caller has taken `bill.owed` from it)."""
    if isinstance(returned_at, int):
        returned_at = _aware(returned_at)
    values = dict(ref=ref, station=station_label(station), time=local_hhmm(returned_at, user.country),
                  used=used_time(bill.minutes), cost=format_money(bill.total, bill.currency))
    if bill.owed:
        return _("Enerlectra R{ref}: power bank returned at {station} {time}. Used {used}, cost {cost}: deposit "
                 "and {more} from wallet.").format(more=format_money(bill.owed, bill.currency), **values)
    return _("Enerlectra R{ref}: power bank returned at {station} {time}. Used {used}, cost {cost}, deposit "
             "back {back}.").format(back=format_money(bill.released, bill.currency), **values)


def lost_text(user, bill: Bill, ref: int) -> str:
    """The SMS when a rental closes as lost: the deposit is kept and the rest of the bill taken from the wallet."""
    values = dict(ref=ref, cost=format_money(bill.total, bill.currency),
                  deposit=format_money(bill.from_deposit, bill.currency))
    if bill.owed:
        return _("Enerlectra R{ref}: power bank declared lost. Charged {cost}: deposit {deposit} kept, {more} "
                 "from wallet.").format(more=format_money(bill.owed, bill.currency), **values)
    return _("Enerlectra R{ref}: power bank declared lost. Charged {cost}: deposit {deposit} kept.").format(**values)


# The eject (the USSD screen while the slot opens; the SMS once the station answered)

def ejecting_text(slot: int) -> str:
    """The USSD END while the eject is on its way: the renter walks to the slot; an SMS confirms."""
    return _("Slot {slot} will open now. Take your power bank from it. An SMS confirms.").format(slot=slot)


def ejected_text(user, ref: int, slot: int, station: str, due_at: int) -> str:
    """The SMS when the bank came out: which slot, and by when it is due (at any station)."""
    return _("Enerlectra R{ref}: take your power bank from slot {slot} at {station}. Return it by {when} at any "
             "station.").format(ref=ref, slot=slot, station=station_label(station),
                                when=when(_aware(due_at), user.country))


def eject_failed_text(user, ref: int, deposit: int, currency: str) -> str:
    """The SMS when nothing came out: the whole deposit is back in the wallet."""
    return _("Enerlectra R{ref}: the station could not give you a power bank. Your deposit {deposit} is back in "
             "your wallet.").format(ref=ref, deposit=format_money(deposit, currency))


# Reminders (billing.reminders says when; the caller renders each in the renter's language)

def due_soon_text(user, tariff: Tariff, rental: Rental, ref: int) -> str:
    return _("Enerlectra R{ref}: please return your power bank by {time} at any station. Late fee after that: "
             "{late}/hour.").format(ref=ref, time=local_hhmm(_aware(rental.due_at), user.country),
                                    late=format_money(tariff.late_per_hour, tariff.currency))


def overdue_text(user, tariff: Tariff, so_far: Bill, ref: int) -> str:
    """`so_far`: billing.so_far at the time of sending."""
    return _("Enerlectra R{ref}: your power bank is overdue. Cost so far {cost}, plus {late} each hour. Return it "
             "at any station.").format(ref=ref, cost=format_money(so_far.total, so_far.currency),
                                       late=format_money(tariff.late_per_hour, tariff.currency))


def final_text(user, tariff: Tariff, rental: Rental, ref: int) -> str:
    """The last notice: the bank is declared lost at billing.lost_at, and costs the ceiling in all."""
    return _("Enerlectra R{ref}: return your power bank by {when}, else it is declared lost and you pay {price} "
             "in all.").format(ref=ref, when=when(_aware(lost_at(tariff, rental.due_at)), user.country),
                               price=format_money(ceiling(tariff, rental), tariff.currency))


def _aware(epoch: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=epoch)


def found_text(user, bill: Bill, station: str, returned_at: datetime, ref: int, back: int, owed: int) -> str:
    """The SMS when a bank declared lost came back within the refund window (found.py): the rental billed again
    as a late return (`bill`), `back` refunded to the wallet, `owed` what the renter still owes after it."""
    values = dict(ref=ref, station=station_label(station), time=local_hhmm(returned_at, user.country),
                  cost=format_money(bill.total, bill.currency))
    if back:
        return _("Enerlectra R{ref}: the lost power bank came back at {station} {time}. Cost now {cost}, {back} "
                 "back to your wallet.").format(back=format_money(back, bill.currency), **values)
    if owed:
        return _("Enerlectra R{ref}: the lost power bank came back at {station} {time}. Cost now {cost}, {owed} "
                 "still owed.").format(owed=format_money(owed, bill.currency), **values)
    return _("Enerlectra R{ref}: the lost power bank came back at {station} {time}. Cost stays {cost}.").format(
        **values)
