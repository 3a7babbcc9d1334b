"""Onboarding as data: language -> name -> PIN -> PIN again -> registered (main menu)."""
from __future__ import annotations

from enerlectra.domain.pin_code import hash_pin
from enerlectra.domain.users import NAME_MAX
from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Nav
from menus.common import LANGUAGE_HINT, PIN_HINT, picks_language, pin_shaped
from menus.onboarding import rules, screens

LONGEST_NAME = "Mwansa Chilufya Bwal"[:NAME_MAX]   # lint renders the worst case

FEATURE = Feature(
    name="onboarding",
    entry="language",
    states=(
        State("language", screens.language, hint=LANGUAGE_HINT, nav=Nav.NONE),
        State("name", screens.name, nav=Nav.BACK, sample_input="1",
              hint=lazy_gettext("Type your name: 2 to 20 letters.")),
        State("pin", screens.pin, nav=Nav.BACK, sample={"name": "Mwansa"}, sample_input="Mwansa",
              hint=PIN_HINT),
        State("pinconfirm", screens.pinconfirm, nav=Nav.BACK, sample={"name": "Mwansa"},
              sample_input="2580", hint=lazy_gettext("Type the same 4 digits again.")),
        State("register", screens.register, nav=Nav.BACK, redirects=("main_menu",),
              sample={"name": LONGEST_NAME, "pin_hash": hash_pin("4826", cost=16)}, sample_input="4826"),
    ),
    transitions=(
        Go("language", "name", picks_language, then=rules.set_language),
        Go("name", "pin", rules.valid_name, then=rules.set_name),
        Go("pin", "pinconfirm", pin_shaped),
        Go("pinconfirm", "register", pin_shaped),
    ),
)
