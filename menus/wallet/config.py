"""Wallet as data: balances -> history | send money (number -> amount -> confirm with PIN -> done)."""
from __future__ import annotations

from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.common import four_digits, press
from menus.wallet import rules, screens

SAMPLE_SEND = {"to": "0961234567", "recipient_id": 1, "recipient_name": "Mwansa Chilufya Bwal",
               "recipient_msisdn": "+260961234567", "amount": 99_999_99}

FEATURE = Feature(
    name="wallet",
    title=lazy_gettext("Wallet"),
    order=10,
    entry="menu",
    states=(
        State("menu", screens.menu),
        State("history", screens.history),
        State("sendto", screens.sendto, hint=lazy_gettext("Type a phone number, like 0971234567.")),
        State("sendamount", screens.sendamount, hint=lazy_gettext("Type an amount, like 25 or 25.50."),
              sample={"to": "0971234567"}, sample_input="0971234567"),
        State("sendconfirm", screens.sendconfirm, hint=lazy_gettext("Type your 4-digit PIN."),
              sample=SAMPLE_SEND, sample_input="99999.99"),
        State("senddone", screens.senddone, redirects=("wallet_menu",), sample=SAMPLE_SEND,
              sample_input="4826"),
    ),
    transitions=(
        Go("menu", "history", press("1")),
        Go("menu", "sendto", press("2")),
        Go("sendto", "sendamount", rules.looks_like_number, then=rules.remember_number),
        Go("sendamount", "sendconfirm", rules.is_amount, then=rules.remember_amount),
        Go("sendconfirm", "senddone", four_digits),
    ),
)
