"""What the USSD screens and the SMS keywords both say of a rental: the refusals of a rent (service.RentRefused),
the rental as "My rental" shows it, and what the station did with the eject. One wording for both channels, in
the current language; each within one screen or one SMS with the longest values (tests/test_rental_screens.py)."""
from __future__ import annotations

from enerlectra.domain.clusters.texts import when
from enerlectra.domain.money import format_money
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.rentals.texts import station_label, used_time
from enerlectra.i18n import _


def refusal_text(code: str, station: str, needed: int, currency: str, owed: int = 0) -> str:
    """service.RentRefused as the renter reads it: what is wrong and what to do instead."""
    if code == "unknown_station":
        return _("No station {code}. Check the digits printed on the cabinet.").format(code=station)
    if code == "offline":
        return _("Station {code} is offline now. Try another station: Charge, 3 Find a station.").format(
            code=station)
    if code == "no_bank":
        return _("Station {code} has no charged power bank now. Try another station or later.").format(code=station)
    if code == "short":
        return _("The deposit needs {amount} more in your wallet: top up {amount} first (Mobile money, 1).").format(
            amount=format_money(needed, currency))
    if code == "owed":
        return _("You owe {owed} for an earlier power bank. Renting pays it and the deposit: top up {amount} first "
                 "(Mobile money, 1).").format(owed=format_money(owed, currency), amount=format_money(needed, currency))
    if code == "open_rental":
        return _("You have a power bank out already. Return it at any station first.")
    if code == "wrong_country":
        return _("Station {code} is in another country: rent there with a wallet of that country.").format(
            code=station)
    return _("Sorry, you cannot rent there now. Try another station.")


def rental_text(view, country: str) -> str:
    """A rental (service.RentalView) now: time used, the cost if it went back now, when it is due."""
    if view.state == "ejecting":
        return _("{ref}: slot {slot} at {station} is opening for your power bank.").format(
            ref=view.ref, slot=view.slot or "-", station=station_label(view.station_name))
    return _("{ref} from {station}: used {used}, cost so far {cost}. Due {due}, at any station.").format(
        ref=view.ref, station=station_label(view.station_name), used=used_time(view.minutes_used),
        cost=format_money(view.cost_so_far, view.currency), due=due_text(view, country))


def due_text(view, country: str) -> str:
    return when(aware_utc(view.due_at), country) if view.due_at is not None else "-"


def eject_text(view, country: str) -> str:
    """After a rent: take it, or it opens in a moment (an SMS confirms), or nothing opened and nothing is kept."""
    if view.eject_state == "ok" or view.state == "active":
        return _("Take your power bank from slot {slot}. Ref {ref}. Due {due}: return it at any station.").format(
            slot=view.slot, ref=view.ref, due=due_text(view, country))
    if view.eject_state in ("failed", "expired") or view.state == "cancelled":
        return _("The station could not open a slot. Your deposit is back in your wallet. Ref {ref}.").format(
            ref=view.ref)
    return _("Slot {slot} will open in a moment; an SMS confirms it. Ref {ref}.").format(
        slot=view.slot or "-", ref=view.ref)
