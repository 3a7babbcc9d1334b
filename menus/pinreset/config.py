"""PIN reset as data: the main menu sends a user with an issued reset here (new PIN -> again -> set).

No 0 Back and no 00 Home: the way out is to choose the PIN (or hang up; the next dial comes back here)."""
from __future__ import annotations

from enerlectra.domain.pin_code import hash_pin
from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Nav
from menus.common import PIN_HINT, pin_shaped
from menus.pinreset import screens

SAMPLE_PIN = "4826"

FEATURE = Feature(
    name="pinreset",
    entry="new",
    states=(
        State("new", screens.new, hint=PIN_HINT, nav=Nav.NONE),
        State("confirm", screens.confirm, hint=lazy_gettext("Type the same 4 digits again."), nav=Nav.NONE,
              sample_input=SAMPLE_PIN),
        State("saved", screens.saved, nav=Nav.NONE, redirects=("main_menu",),
              sample={"pin_hash": hash_pin(SAMPLE_PIN, cost=16)}, sample_input=SAMPLE_PIN),
    ),
    transitions=(
        Go("new", "confirm", pin_shaped),
        Go("confirm", "saved", pin_shaped),
    ),
)
