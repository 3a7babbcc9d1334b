"""What a wrong, weak, locked or reset PIN is told, on screens and by SMS (counts through ngettext: "1 try left")."""
from __future__ import annotations

from enerlectra.domain.clusters.texts import when
from enerlectra.domain.pins import local_hhmm
from enerlectra.i18n import _, lazy_gettext, ngettext

# Why a new PIN is refused, said generally (pin.is_valid_pin refuses runs, repeats and keypad lines).
WEAK_PIN_HINT = lazy_gettext("Pick 4 digits that are hard to guess, not a pattern like 1234, 1111 or 2580.")


def tries_left(count: int) -> str:
    return ngettext("Wrong PIN. {count} try left.", "Wrong PIN. {count} tries left.", count).format(count=count)


def locked_after(count: int, time: str) -> str:
    return ngettext("Wrong PIN {count} time. Money actions are locked until {time}.",
                    "Wrong PIN {count} times. Money actions are locked until {time}.", count).format(
        count=count, time=time)


# By SMS

def pin_lock_text(user, until) -> str:
    return _("Enerlectra: wrong PIN 3 times. Money actions are locked until {time}. If this was not you, "
             "call us.").format(time=local_hhmm(until, user.country))


def pin_changed_text(user) -> str:
    return _("Enerlectra: your PIN was changed. If this was not you, call us now.")


def pin_reset_asked_text(user) -> str:
    return _("Enerlectra: you asked to reset your PIN. Support will call you to check it is you. If you did not "
             "ask, call us.")


def pin_reset_issued_text(user, expires) -> str:
    return _("Enerlectra: support reset your PIN. Dial *123# before {when} to choose a new one. If you did not "
             "ask, call us now.").format(when=when(expires, user.country))


def pin_reset_done_text(user, until) -> str:
    return _("Enerlectra: your new PIN is set. Money actions wait until {when} to keep your money safe. If this "
             "was not you, call us.").format(when=when(until, user.country))
