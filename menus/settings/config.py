"""Settings as data: language, PIN change, a forgotten PIN (ask support for a reset), Trade by SMS, and the
user's meters (prosumers)."""
from __future__ import annotations

from enerlectra.domain.pin_code import hash_pin
from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.common import LANGUAGE_HINT, PIN_HINT, four_digits, picks_language, pin_shaped, press
from menus.settings import rules, screens
from menus.settings.screens import FORGOT_KEY

SAMPLE_PIN = "4826"

FEATURE = Feature(
    name="settings",
    title=lazy_gettext("Settings"),
    order=90,
    entry="menu",
    states=(
        State("menu", screens.menu),
        State("language", screens.language, hint=LANGUAGE_HINT, resting=True),
        State("langsaved", screens.langsaved, redirects=("settings_menu",), sample={"new_lang": "sw"},
              sample_input="4"),
        State("pinold", screens.pinold, hint=lazy_gettext("Type your 4-digit PIN.")),
        State("pinnew", screens.pinnew, hint=PIN_HINT, redirects=("settings_pinold",),
              sample_input=SAMPLE_PIN),
        State("pinconfirm", screens.pinconfirm, hint=lazy_gettext("Type the same 4 digits again."),
              sample_input="2580"),
        State("pinsaved", screens.pinsaved, redirects=("settings_menu",),
              sample={"pin_hash": hash_pin(SAMPLE_PIN, cost=16)}, sample_input=SAMPLE_PIN),
        State("forgot", screens.forgot, hint=lazy_gettext("Type 1 to ask for a reset, or 0 to go back.")),
        State("forgotsent", screens.forgotsent, redirects=("settings_menu",)),
        State("meter", screens.meter),
        State("smspin", screens.smspin, hint=lazy_gettext("Type 1 or 2.")),
        State("smspinpin", screens.smspinpin, hint=lazy_gettext("Type your 4-digit PIN."), sample={"sms_pin": True}),
        State("smspinsaved", screens.smspinsaved, redirects=("settings_menu",), sample={"sms_pin": True},
              sample_input=SAMPLE_PIN),
    ),
    transitions=(
        Go("menu", "language", press("1")),
        Go("menu", "pinold", press("2")),
        Go("menu", "meter", press("3")),
        Go("menu", "smspin", press("4")),
        Go("menu", "forgot", press("5")),
        Go("pinold", "forgot", press(FORGOT_KEY)),
        Go("forgot", "forgotsent", press("1")),
        Go("smspin", "smspinpin", rules.on_or_off, then=rules.remember_on_or_off),
        Go("smspinpin", "smspinsaved", four_digits),
        Go("language", "langsaved", picks_language, then=rules.remember_language),
        Go("pinold", "pinnew", four_digits),
        Go("pinnew", "pinconfirm", pin_shaped),
        Go("pinconfirm", "pinsaved", pin_shaped),
    ),
)
