"""GSM 03.38 character rules: what fits a USSD screen or an SMS, counted in septets.

Basic-table characters cost one septet, extension-table characters two (ESC + char).
One character outside both tables turns the whole text into UCS-2 (UTF-16 code units).
"""
from __future__ import annotations

from dataclasses import dataclass

# 3GPP TS 23.038 basic table, in code order. 0x09 is Ç in 3GPP and ç in Unicode's mapping: accept both.
BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
) | {"ç"}
EXTENSION = set("\f^{}\\[~]|€")

USSD_SCREEN_SEPTETS = 160          # operators cap at 160 although GSM allows 182
USSD_SCREEN_UCS2_UNITS = 80        # 160 octets / 2


def is_gsm7(text: str) -> bool:
    return all(ch in BASIC or ch in EXTENSION for ch in text)


def non_gsm7(text: str) -> list[str]:
    """The characters that would force UCS-2, in order of first appearance."""
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in BASIC and ch not in EXTENSION:
            seen.setdefault(ch, None)
    return list(seen)


def septets(text: str) -> int:
    """Length in GSM-7 septets; only meaningful when is_gsm7(text)."""
    return sum(2 if ch in EXTENSION else 1 for ch in text)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Cost:
    encoding: str   # "GSM-7" or "UCS-2"
    units: int      # septets or UTF-16 code units
    limit: int      # what a USSD screen allows in those units

    @property
    def fits(self) -> bool:
        return self.units <= self.limit


def screen_cost(text: str) -> Cost:
    """What a USSD screen of this text costs against its budget."""
    if is_gsm7(text):
        return Cost("GSM-7", septets(text), USSD_SCREEN_SEPTETS)
    return Cost("UCS-2", utf16_units(text), USSD_SCREEN_UCS2_UNITS)


def screen_units(text: str) -> int:
    """Cost against a 160-unit screen: septets, or two per UTF-16 unit once UCS-2 is forced."""
    cost = screen_cost(text)
    return cost.units if cost.encoding == "GSM-7" else cost.units * 2


def fits_screen(text: str) -> bool:
    return screen_cost(text).fits


# -- SMS segmentation ----------------------------------------------------------------------------

SINGLE_GSM, PART_GSM = 160, 153        # septets; a concatenated part loses 7 to the UDH
SINGLE_UCS2, PART_UCS2 = 70, 67        # UTF-16 code units


@dataclass(frozen=True)
class Segmentation:
    encoding: str            # "GSM-7" or "UCS-2"
    parts: tuple[str, ...]   # the text of each SMS part, in order; "".join(parts) is the text

    @property
    def count(self) -> int:
        return len(self.parts)


def _cost(ch: str, gsm: bool) -> int:
    if gsm:
        return 2 if ch in EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1      # astral characters (emoji) are a surrogate pair


def segment(text: str) -> Segmentation:
    """Split `text` as a phone would: never an escape pair or a surrogate pair across two parts."""
    gsm = is_gsm7(text)
    single, part = (SINGLE_GSM, PART_GSM) if gsm else (SINGLE_UCS2, PART_UCS2)
    encoding = "GSM-7" if gsm else "UCS-2"
    if sum(_cost(ch, gsm) for ch in text) <= single:
        return Segmentation(encoding, (text,))
    parts, current, used = [], [], 0
    for ch in text:
        cost = _cost(ch, gsm)
        if used + cost > part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    parts.append("".join(current))
    return Segmentation(encoding, tuple(parts))
