"""Amounts: typed text -> integer minor units, and integers -> text a phone can show (GSM-7 only).

Money is integer minor units (ngwee, cents); energy is integer Wh. No float anywhere on this path.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, format_decimal, get_currency_precision

# Formatting locale per country: Babel knows ZMW as "K" in en_ZM and TZS as "TSh" in sw_TZ.
_LOCALE = {"ZMW": "en_ZM", "TZS": "sw_TZ"}
# Currencies people count in whole units (Tanzania: shillings, no cents in use): shown without ".00"
# when the amount is whole; a fraction (a fee, a price step) still shows, so nothing is hidden.
WHOLE = {"TZS"}
_AMOUNT = re.compile(r"^[0-9]{1,12}(?:[.,][0-9]+)?$")   # ASCII digits only


class BadAmount(ValueError):
    """Not an amount a person meant: letters, zero, negative, too many decimals."""


def decimals(currency: str) -> int:
    return get_currency_precision(currency)


def parse_amount(text: str, currency: str) -> int:
    """'25', '25.5', '25,50', 'K25' -> minor units. Raises BadAmount with what was wrong."""
    raw = text.strip().replace(" ", "")
    for symbol in ("K", "k", "ZMW", "TSh", "TSH", "TZS"):
        if raw.startswith(symbol):
            raw = raw[len(symbol):]
            break
    if raw.startswith("-"):
        raise BadAmount("negative")
    if not _AMOUNT.match(raw):
        raise BadAmount("not a number")
    raw = raw.replace(",", ".")
    places = decimals(currency)
    if "." in raw and len(raw.split(".")[1]) > places:
        raise BadAmount("too many decimals")
    try:
        minor = int(Decimal(raw).scaleb(places))
    except InvalidOperation:
        raise BadAmount("not a number") from None
    if minor <= 0:
        raise BadAmount("zero")
    return minor


def _gsm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")   # Babel's no-break spaces are not GSM-7


# Babel's formatting costs about 15 us a call; a screen shows the same few amounts again and again (a balance
# on every visit to the wallet): pure functions of their arguments, kept (issue 18: CPU per hop).
@lru_cache(maxsize=4096)
def format_money(minor: int, currency: str) -> str:
    amount = Decimal(minor).scaleb(-decimals(currency))
    if currency in WHOLE and amount == amount.to_integral_value():
        return _gsm(format_currency(amount, currency, format="\xa4\xa0#,##0", currency_digits=False,
                                    locale=_LOCALE.get(currency, "en")))
    return _gsm(format_currency(amount, currency, locale=_LOCALE.get(currency, "en")))


def typed(minor: int, currency: str) -> str:
    """An amount as a user would type it: '1.20' in kwacha, '500' in shillings (for 'like ...' hints)."""
    amount = Decimal(minor).scaleb(-decimals(currency))
    if currency in WHOLE and amount == amount.to_integral_value():
        return str(int(amount))
    return f"{amount:.{decimals(currency)}f}"


@lru_cache(maxsize=4096)
def format_energy(wh: int) -> str:
    kwh = Decimal(wh).scaleb(-3)
    return _gsm(format_decimal(kwh, format="#,##0.0##", locale="en")) + " kWh"
