"""An inbound SMS as we store it: no PIN in the clear.

After a keyword whose arguments may hold a PIN (`YES 1234`, and its aliases EE, INDE, NDIYO: Command.takes_pin)
every argument holding a digit becomes `****`, so a mistyped PIN (`YES 58201`) is hidden too; a vote
(`YES 12`) loses its number, which the vote itself keeps. A text we do not understand (`YES1234`, `1234`)
has its PIN-shaped runs masked. The other commands' arguments (`BUY 3`, `SELL 4 1.20`) are kept as sent.
"""
from __future__ import annotations

import re

from enerlectra.redact import MASK, mask_pin_runs
from sms.commands import parse


def stored_text(text: str) -> str:
    command, _args = parse(text)
    if command is None:
        return mask_pin_runs(text)
    if not command.takes_pin:
        return text
    keyword, rest = re.match(r"(\s*\S+)(.*)", text, re.DOTALL).groups()
    return keyword + re.sub(r"\S*[0-9]\S*", MASK, rest)
