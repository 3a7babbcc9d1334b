"""Charge (a power bank) as data.

    menu -> rent: station code (or a recent one) -> the terms -> PIN -> "take it from slot N"
                                                    (wallet short: -> top up the missing deposit -> confirm)
         -> my rental: time, cost so far, due -> extend: hours -> PIN
                                              -> report lost: confirm -> PIN
         -> find a station: area -> stations with charged banks and free slots now
"""
from __future__ import annotations

from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.common import four_digits, press
from menus.rentals import rules, screens

PIN_HINT = lazy_gettext("Type your 4-digit PIN.")
STATION = {"station": "123456"}

FEATURE = Feature(
    name="charge",
    title=lazy_gettext("Charge a phone"),
    order=98,            # new features take the next number: what users know keeps its number
    entry="menu",
    states=(
        State("menu", screens.menu, hint=lazy_gettext("Type 1, 2 or 3.")),
        State("station", screens.station, hint=lazy_gettext("Type the 4 to 6 digits on the station."),
              resting=True),
        State("terms", screens.terms, hint=lazy_gettext("Type 1 to rent, or 0 to go back."), sample=dict(STATION),
              sample_input="123456"),
        State("pin", screens.pin, hint=PIN_HINT, sample=dict(STATION)),
        State("topup", screens.topup, sample={**STATION, "topup": 99_999_99}),
        State("topupdone", screens.topupdone, redirects=("charge_menu",),
              sample={**STATION, "topup": 99_999_99, "amount": 99_999_99}),
        State("rented", screens.rented, sample=dict(STATION), sample_input="4826"),
        State("mine", screens.mine, hint=lazy_gettext("Type 1 or 2."), resting=True),
        State("hours", screens.hours, hint=lazy_gettext("Type a number of hours, like 2."),
              redirects=("charge_mine",)),
        State("extendpin", screens.extendpin, hint=PIN_HINT, redirects=("charge_mine",),
              sample={"hours": rules.MOST_HOURS}, sample_input=str(rules.MOST_HOURS)),
        State("extended", screens.extended, redirects=("charge_mine",), sample={"hours": 2}, sample_input="4826"),
        State("lost", screens.lost, hint=lazy_gettext("Type 1 if it is lost, or 0 to go back."),
              redirects=("charge_mine",)),
        State("lostpin", screens.lostpin, hint=PIN_HINT),
        State("lostdone", screens.lostdone, redirects=("charge_mine",), sample_input="4826"),
        State("area", screens.area, hint=lazy_gettext("Type the name of an area, like Kabwata.")),
        State("found", screens.found, sample={"area": "Kabwata"}, sample_input="Kabwata", resting=True),
    ),
    transitions=(
        Go("menu", "station", press("1")),
        Go("menu", "mine", press("2")),
        Go("menu", "area", press("3")),
        Go("station", "terms", rules.picks_station, then=rules.remember_station),
        Go("terms", "pin", rules.rents),
        Go("terms", "topup", rules.tops_up),
        Go("topup", "topupdone", press("1")),
        Go("pin", "rented", four_digits),
        Go("mine", "hours", press("1")),
        Go("mine", "lost", press("2")),
        Go("hours", "extendpin", rules.is_hours, then=rules.remember_hours),
        Go("extendpin", "extended", four_digits),
        Go("lost", "lostpin", press("1")),
        Go("lostpin", "lostdone", four_digits),
        Go("area", "found", rules.is_area, then=rules.remember_area),
    ),
)
