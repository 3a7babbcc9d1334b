"""Free text (a model's answer) made fit for SMS: plain GSM-7 and cut at a sentence within N segments.

A model writes markdown, curly quotes, dashes and sometimes emoji; one such character would turn the
whole SMS into UCS-2 and halve its room. So: strip the markdown, transliterate what has a GSM-7
look-alike, drop what has none, and cut at the last whole sentence that fits.
"""
from __future__ import annotations

import re
import unicodedata

from enerlectra.text.gsm7 import BASIC, EXTENSION, PART_GSM, SINGLE_GSM, septets

LOOK_ALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": "-", "\u00d7": "x", "\u00f7": "/", "\u2248": "~",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "", "\u00b0": " deg", "\u00b2": "2", "\u00b3": "3",
    "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4", "\u2082": "2", "\u2264": "<=", "\u2265": ">=",
    "\u2192": "->", "\u00e2": "a", "\u00ea": "e", "\u00ee": "i", "\u00f4": "o", "\u00fb": "u", "\t": " ",
}

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")                  # [text](url) -> text
_EMPHASIS = re.compile(r"(\*\*|__|\*|~~)(?=\S)(.+?)(?<=\S)\1")  # **bold**, *em*, __bold__, ~~gone~~
_LINE_MARK = re.compile(r"^\s*(#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def strip_markdown(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _LINE_MARK.sub("", text)
    return text.replace("```", "").replace("**", "")


def to_gsm7(text: str) -> str:
    """Every character in the GSM-7 tables: look-alikes for the common ones, accents dropped, rest gone."""
    out = []
    for ch in text:
        if ch in BASIC or ch in EXTENSION:
            out.append(ch)
        elif ch in LOOK_ALIKES:
            out.append(LOOK_ALIKES[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append("".join(c for c in base if c in BASIC or c in EXTENSION))
    return "".join(out)


def plain(text: str) -> str:
    """One line of plain GSM-7 prose: no markdown, no line breaks, single spaces."""
    lines = [line.strip() for line in strip_markdown(text).splitlines()]
    joined = " ".join(_end_sentence(line) if i < len(lines) - 1 else line for i, line in enumerate(lines) if line)
    return re.sub(r"\s+", " ", to_gsm7(joined)).strip()


def _end_sentence(line: str) -> str:
    """A list item or heading becomes a sentence of its own when the lines are joined."""
    return line if line[-1] in ".!?:;," else line + "."


def budget(max_segments: int) -> int:
    """Septets that fit in `max_segments` SMS parts."""
    return SINGLE_GSM if max_segments == 1 else PART_GSM * max_segments


def fit(text: str, max_segments: int, suffix: str = "") -> str:
    """`text` made plain and cut at the last sentence that fits with `suffix` (kept whole) after it.

    With no sentence end in the room, cut at a word and add "...".
    """
    body = plain(text)
    suffix = to_gsm7(suffix)
    tail = f" {suffix}" if suffix else ""
    room = budget(max_segments) - septets(tail)
    if septets(body) <= room:
        return (body + tail).strip()
    cut = _prefix(body, room)
    ends = [m.end() for m in _SENTENCE_END.finditer(cut)]
    if ends and ends[-1] >= len(cut) // 3:        # a sentence that keeps most of the room
        return cut[:ends[-1]] + tail
    words = _prefix(body, room - 3).rsplit(" ", 1)[0].rstrip(",;:-")
    return words + "..." + tail


def _prefix(text: str, room: int) -> str:
    """The longest prefix of `text` costing at most `room` septets."""
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ch in EXTENSION else 1
        if used > room:
            return text[:i]
    return text
