"""Fit a Screen into USSD pages of at most 160 GSM-7 septets each (after the CON/END prefix).

Options keep their global numbers across pages, so a key means the same thing on every page.
Header lines (a hint after a wrong key, a flash after an action) sit on top of every page.
"""
from __future__ import annotations

from dataclasses import dataclass

from enerlectra.i18n import _
from enerlectra.text.gsm7 import USSD_SCREEN_SEPTETS, fits_screen, screen_units
from enerlectra.ussd.types import Nav, Screen

MORE, BACK, HOME = "98", "0", "00"


@dataclass(frozen=True)
class Page:
    text: str
    has_more: bool


def _footer(nav: Nav, more: bool, first_page: bool) -> str:
    parts = []
    if more:
        parts += [MORE, _("More")]
    if nav is not Nav.NONE or not first_page:
        parts += [BACK, _("Back")]
    if nav is Nav.FULL:
        parts += [HOME, _("Home")]
    return " ".join(parts)


def _split_words(line: str, room: int) -> list[str]:
    """Break one over-long line at spaces into pieces that each fit `room`."""
    pieces, current = [], ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if screen_units(candidate) <= room:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while screen_units(word) > room:          # a word longer than a screen: cut it hard
            cut = room
            while screen_units(word[:cut]) > room:
                cut -= 1
            pieces.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        pieces.append(current)
    return pieces


def _join(*blocks: list[str] | str) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            if block:
                lines.append(block)
        else:
            lines.extend(block)
    return "\n".join(lines)


def paginate(screen: Screen, nav: Nav, header: list[str] | None = None) -> list[Page]:
    header = [h for h in (header or []) if h]
    items = list(screen.body) + [f"{key} {label}" for key, label in screen.options]
    whole = _join(header, items, "" if screen.end else _footer(nav, False, True))
    if fits_screen(whole) and (screen.page_size is None or len(items) <= screen.page_size):
        return [Page(whole, False)]
    # Room for content when both header and the longest footer are present.
    longest_footer = _footer(nav, True, False)
    reserve = screen_units(_join(header, longest_footer)) + 1
    room = max(20, USSD_SCREEN_SEPTETS - reserve)
    pieces: list[str] = []
    for item in items:
        pieces.extend(_split_words(item, room) if not fits_screen(_join(header, item, longest_footer))
                      else [item])
    pages: list[list[str]] = [[]]
    for piece in pieces:
        trial = _join(header, pages[-1] + [piece], longest_footer)
        full = screen.page_size is not None and len(pages[-1]) >= screen.page_size
        if pages[-1] and (full or not fits_screen(trial)):
            pages.append([])
        pages[-1].append(piece)
    out = []
    for i, lines in enumerate(pages):
        last = i == len(pages) - 1
        footer = "" if (last and screen.end) else _footer(nav, not last, i == 0)
        out.append(Page(_join(header, lines, footer), not last))
    return out
