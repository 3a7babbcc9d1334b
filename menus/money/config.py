"""Mobile money as data: deposit (amount -> fee and total -> confirm) and withdraw (amount -> fee -> PIN)."""
from __future__ import annotations

from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.common import four_digits, press
from menus.money import rules as money_rules
from menus.money import screens
from menus.wallet import rules

AMOUNT_HINT = lazy_gettext("Type an amount, like 25 or 25.50.")
SAMPLE = {"amount": 99_999_99}

FEATURE = Feature(
    name="money",
    title=lazy_gettext("Mobile money"),
    order=20,
    entry="menu",
    states=(
        State("menu", screens.menu),
        State("wallet", screens.pick_wallet, hint=lazy_gettext("Type a phone number, like 0971234567.")),
        State("depamount", screens.depamount, hint=AMOUNT_HINT),
        State("depconfirm", screens.depconfirm, sample=SAMPLE, sample_input="99999.99"),
        State("depdone", screens.depdone, redirects=("money_menu",), sample=SAMPLE),
        State("wdamount", screens.wdamount, hint=AMOUNT_HINT),
        State("wdconfirm", screens.wdconfirm, hint=lazy_gettext("Type your 4-digit PIN."), sample=SAMPLE,
              sample_input="99999.99"),
        State("wddone", screens.wddone, redirects=("money_menu",), sample=SAMPLE, sample_input="4826"),
    ),
    transitions=(
        Go("menu", "depamount", press("1")),
        Go("menu", "wdamount", press("2")),
        Go("menu", "wallet", press("3")),
        Go("wallet", "menu", money_rules.own_country_number, then=money_rules.remember_wallet),
        Go("depamount", "depconfirm", rules.is_amount, then=rules.remember_amount),
        Go("depconfirm", "depdone", press("1")),
        Go("wdamount", "wdconfirm", rules.is_amount, then=rules.remember_amount),
        Go("wdconfirm", "wddone", four_digits),
    ),
)
