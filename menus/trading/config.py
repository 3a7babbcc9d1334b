"""Trade energy as data.

    menu -> sell: kWh -> price (the market as a hint) -> how long -> PIN -> listed (kWh escrowed)
         -> buy: kWh -> the cost at the best prices (or: only some for sale, 1 cancel the rest / 2 bid for it)
                 -> PIN -> bought
         -> my offers -> one -> cancel (escrow back)
         -> market: best 3 offers, last price, 24 h volume and range
         -> price alert: below what price -> set
"""
from __future__ import annotations

from enerlectra.domain.market.texts import price_hint
from enerlectra.domain.phone import COUNTRIES
from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.common import four_digits, press
from menus.trading import rules, screens

KWH_HINT = lazy_gettext("Type kWh, like 2 or 2.5.")


def PRICE_HINT(session) -> str:           # noqa: N802  a hint like the others, in the session's currency
    return price_hint(COUNTRIES[session.country][0])


PIN_HINT = lazy_gettext("Type your 4-digit PIN.")
SELL = {"wh": 99_900_000, "price": 5000, "days": 7}
BUY = {"wh": 99_900_000}
PARTIAL = {**BUY, "partial": True, "quote_wh": 99_800_000, "quote_total": 99_999_999_99, "top": 5000}

FEATURE = Feature(
    name="trade",
    title=lazy_gettext("Trade energy"),
    order=96,            # new features take the next number: what users know keeps its number
    entry="menu",
    states=(
        State("menu", screens.menu, hint=lazy_gettext("Type a number from 1 to 5.")),
        State("sellkwh", screens.sellkwh, hint=KWH_HINT),
        State("sellprice", screens.sellprice, hint=PRICE_HINT, sample={"wh": 100}, sample_input="0.1"),
        State("sellexpiry", screens.sellexpiry, hint=lazy_gettext("Type 1, 2 or 3."), sample=dict(SELL),
              sample_input="50"),
        State("sellconfirm", screens.sellconfirm, hint=PIN_HINT, sample=dict(SELL), sample_input="3"),
        State("selldone", screens.selldone, redirects=("trade_menu",), sample=dict(SELL), sample_input="4826"),
        State("buykwh", screens.buykwh, hint=KWH_HINT),
        State("buyquote", screens.buyquote, hint=lazy_gettext("Type your PIN, or 1 or 2 when asked."),
              redirects=("trade_menu",), sample=dict(PARTIAL), sample_input="99900"),
        State("buypin", screens.buypin, hint=PIN_HINT, sample={**PARTIAL, "keep_rest": True}, sample_input="2"),
        State("buydone", screens.buydone, redirects=("trade_menu",), sample={**PARTIAL, "keep_rest": True},
              sample_input="4826"),
        State("myorders", screens.myorders, hint=lazy_gettext("Type the number of an offer."), resting=True),
        State("cancel", screens.cancel, hint=lazy_gettext("Type 1 to cancel it, or 0 to go back."),
              redirects=("trade_myorders",), sample={"orders": [1], "order_id": 1}),
        State("cancelled", screens.cancelled, redirects=("trade_myorders",), sample={"orders": [1], "order_id": 1}),
        State("market", screens.market),
        State("alertprice", screens.alertprice, hint=PRICE_HINT),
        State("alertset", screens.alertset, redirects=("trade_menu",), sample={"price": 5000}, sample_input="50"),
    ),
    transitions=(
        Go("menu", "sellkwh", press("1")),
        Go("menu", "buykwh", press("2")),
        Go("menu", "myorders", press("3")),
        Go("menu", "market", press("4")),
        Go("menu", "alertprice", press("5")),
        Go("sellkwh", "sellprice", rules.is_kwh, then=rules.remember_kwh),
        Go("sellprice", "sellexpiry", rules.is_price, then=rules.remember_price),
        Go("sellexpiry", "sellconfirm", rules.picks_expiry, then=rules.remember_expiry),
        Go("sellconfirm", "selldone", four_digits),
        Go("buykwh", "buyquote", rules.is_kwh, then=rules.remember_kwh),
        Go("buyquote", "buydone", rules.pin_for_whole_quote),
        Go("buyquote", "buypin", rules.chooses_rest, then=rules.remember_rest),
        Go("buypin", "buydone", four_digits),
        Go("myorders", "cancel", rules.picks_order, then=rules.remember_order),
        Go("cancel", "cancelled", press("1")),
        Go("alertprice", "alertset", rules.is_price, then=rules.remember_price),
    ),
)
