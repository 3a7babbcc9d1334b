"""The path a session keeps of the inputs it consumed, and how one hop's input is found against it.

Two rules, one per kind of aggregator (`UssdRequest.path_rule`):
- "cumulative" (Africa's Talking): the request carries every input so far joined by '*'; the new input is
  what follows the consumed prefix. A user's input may itself contain '*', so splitting would be ambiguous.
- "appended" (Beem, Hubtel, Arkesel): the request carries the latest input only; it is appended, so a
  repeated key (`1` then `1`) is two inputs, and a '*' inside it ("1*2") is part of one input.

The session keeps a mark (a length and a keyed digest), never the text: the path carries the PINs typed.
"""
from __future__ import annotations

from typing import Callable

from enerlectra.domain import ledger

CUMULATIVE = "cumulative"
APPENDED = "appended"


def consumed_mark(text: str) -> str:
    """What the session keeps of the text it has turned into inputs: its length and a digest, never the
    text itself (it carries the PINs typed)."""
    return f"{len(text)}:{ledger.keyed_digest('consumed', text)}"


def new_input(consumed: str, text: str) -> str:
    """Africa's Talking sends every input so far joined by '*'; what follows the consumed prefix is new.
    Text that does not extend the prefix is taken whole."""
    seen = _seen_prefix(consumed, text) if consumed else None
    if not seen:                 # nothing consumed yet: the text is the first input, '*' and all
        return text
    if text == seen:
        return ""
    if text.startswith(seen + "*"):
        return text[len(seen) + 1:]
    return text


def _seen_prefix(consumed: str, text: str) -> str | None:
    """The part of `text` the session has consumed already, if `text` starts with it."""
    size, sep, _digest = consumed.partition(":")
    if sep and size.isdigit():
        prefix = text[:int(size)]
        return prefix if consumed_mark(prefix) == consumed else None
    return consumed              # a session saved before marks were digests holds the text itself


def behind(rule: str, stored: str, text: str) -> bool:
    """Africa's Talking's text only grows within a session: a text shorter than what the session consumed is a
    late duplicate of an earlier hop (the replay cache keeps the last two hops only), never a new input."""
    if rule != CUMULATIVE or not stored:
        return False
    size, sep, _digest = stored.partition(":")
    return bool(sep) and size.isdigit() and len(text) < int(size)


def _cumulative(stored: str, text: str) -> tuple[str, str]:
    return consumed_mark(text), new_input(stored, text)


def _appended(stored: str, text: str) -> tuple[str, str]:
    return "+" + ledger.keyed_digest("path", f"{stored}\n{text}"), text


# rule -> (stored path, the request's text) -> (the new path, the new input)
RULES: dict[str, Callable[[str, str], tuple[str, str]]] = {CUMULATIVE: _cumulative, APPENDED: _appended}


def advance(rule: str, stored: str, text: str) -> tuple[str, str]:
    return RULES[rule](stored, text)


def opened(rule: str, parts: list[str]) -> str:
    """The path after a first hop whose dial string carried `parts` (a shortcut), or none."""
    if rule == CUMULATIVE:
        return consumed_mark("*".join(parts))
    path = ""
    for part in parts:
        path = _appended(path, part)[0]
    return path
