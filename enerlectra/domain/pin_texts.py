"""What a wrong or weak PIN is told, on screens and by SMS (counts through ngettext: "1 try left")."""
from __future__ import annotations

from enerlectra.i18n import lazy_gettext, ngettext

# Why a new PIN is refused, said generally (pin.is_valid_pin refuses runs, repeats and keypad lines).
WEAK_PIN_HINT = lazy_gettext("Pick 4 digits that are hard to guess, not a pattern like 1234, 1111 or 2580.")


def tries_left(count: int) -> str:
    return ngettext("Wrong PIN. {count} try left.", "Wrong PIN. {count} tries left.", count).format(count=count)


def locked_after(count: int, time: str) -> str:
    return ngettext("Wrong PIN {count} time. Money actions are locked until {time}.",
                    "Wrong PIN {count} times. Money actions are locked until {time}.", count).format(
        count=count, time=time)
