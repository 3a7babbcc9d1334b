"""PRICE (the market line), ALERT <price> (one SMS when kWh is offered below it), SELL / BUY.

SELL and BUY by SMS need a PIN by SMS, which is off for everyone (the default the issue asks for);
they answer with the way to trade by USSD.
"""
from __future__ import annotations

from sms.commands.base import Command, CommandCtx
from ussd_app.domain.market import book, data, texts
from ussd_app.domain.money import BadAmount, parse_amount
from ussd_app.i18n import pgettext_noop


async def handle_price(ctx: CommandCtx) -> str:
    currency = ctx.user.currency if ctx.user else ctx.number.currency
    return texts.price_sms(await data.snapshot(ctx.db, currency))


async def handle_alert(ctx: CommandCtx) -> str:
    user = ctx.user
    try:
        below = parse_amount(ctx.args[0], user.currency) if len(ctx.args) == 1 else None
    except BadAmount:
        below = None
    if below is None:
        return texts.alert_usage()
    alert = await book.add_alert(ctx.db, user, below)
    return texts.alert_set(alert.below, alert.currency)


async def handle_trade(ctx: CommandCtx) -> str:
    return texts.sms_trading_off()


PRICE = Command("price", pgettext_noop("sms keyword", "PRICE"), handle_price)
ALERT = Command("alert", pgettext_noop("sms keyword", "ALERT"), handle_alert, needs_account=True)
SELL = Command("sell", pgettext_noop("sms keyword", "SELL"), handle_trade, needs_account=True)
BUY = Command("buy", pgettext_noop("sms keyword", "BUY"), handle_trade, needs_account=True)
