"""MSISDNs: parsed and validated with libphonenumber; we serve Zambia and Tanzania."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Country -> (currency, language a new user sees first).
COUNTRIES: dict[str, tuple[str, str]] = {"ZM": ("ZMW", "en"), "TZ": ("TZS", "sw")}


class InvalidMsisdn(ValueError):
    """Not a phone number at all (a 400 on a webhook)."""


class UnsupportedCountry(ValueError):
    """A real number from a country we do not serve (a polite END on USSD)."""


@dataclass(frozen=True)
class Msisdn:
    e164: str       # +260971234567
    country: str    # ZM / TZ

    @property
    def currency(self) -> str:
        return COUNTRIES[self.country][0]

    @property
    def default_language(self) -> str:
        return COUNTRIES[self.country][1]


@lru_cache(maxsize=4096)
def parse_msisdn(raw: str, region: str | None = None) -> Msisdn:
    """Accept E.164 with or without '+', as aggregators send it; with `region`, also a national number
    as a person types it (0971234567). Reject anything else.

    Cached per string (issue 18: libphonenumber on every hop): the answer is immutable, a refusal is raised
    again each time (lru_cache keeps no exceptions)."""
    text = (raw or "").strip().replace(" ", "")
    if not text:
        raise InvalidMsisdn("phone number is empty")
    if not text.startswith("+") and not (region and text.startswith("0")):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMsisdn(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidMsisdn(f"not a valid phone number: {raw!r}")
    region = phonenumbers.region_code_for_number(number)
    if region not in COUNTRIES:
        raise UnsupportedCountry(f"{region or 'unknown'} numbers are not served")
    return Msisdn(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region)


_TYPING = re.compile(r"[\s\-().]")          # what people type between digits: 097 123-4567, (097) 1234567


def as_typed(raw: str) -> list[Msisdn]:
    """Every served number `raw` may mean as a person types it: E.164 with or without '+', 00 for '+', or a
    national number with or without its leading 0 in any country we serve (a search box, never a webhook)."""
    text = _TYPING.sub("", raw or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    tries = [(text, None)]
    if text and not text.startswith("+"):
        tries += [(t, region) for region in COUNTRIES for t in (text, "0" + text)]
    found: list[Msisdn] = []
    for typed, region in tries:
        try:
            number = parse_msisdn(typed, region)
        except ValueError:
            continue
        if number not in found:
            found.append(number)
    return found
