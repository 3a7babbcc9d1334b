"""Market keywords: PRICE (the market line), ALERT <price>, and SELL / BUY confirmed by `YES <PIN>`.

SELL and BUY need PIN-by-SMS, which is off unless the user turned it on (Settings); otherwise they answer
with the way to trade by USSD.
"""
from __future__ import annotations

from datetime import timedelta

from enerlectra.domain import ledger, pin_resets, pin_texts, pins, wallet
from enerlectra.domain.market import book, by_sms, data, rules, texts
from enerlectra.domain.market.matching import BUY, SELL
from enerlectra.domain.money import BadAmount, format_energy, format_money, parse_amount
from enerlectra.i18n import _, pgettext_noop
from sms.commands.base import Command, CommandCtx


async def handle_price(ctx: CommandCtx) -> str:
    currency = ctx.user.currency if ctx.user else ctx.number.currency
    return texts.price_sms(await data.snapshot(ctx.db, currency))


def _price(text: str, currency: str) -> int | None:
    try:
        return parse_amount(text, currency)
    except BadAmount:
        return None


async def handle_alert(ctx: CommandCtx) -> str:
    below = _price(ctx.args[0], ctx.user.currency) if len(ctx.args) == 1 else None
    if below is None:
        return texts.alert_usage(ctx.user.currency)
    alert = await book.add_alert(ctx.db, ctx.user, below)
    return texts.alert_set(alert.below, alert.currency)


def _kwh(text: str) -> int | None:
    try:
        return rules.parse_kwh(text)
    except rules.BadOrder as exc:
        return -1 if str(exc) == "lot" else None


async def handle_sell(ctx: CommandCtx) -> str:
    user = ctx.user
    if not user.sms_pin_enabled:
        return texts.sms_trading_off()
    wh = _kwh(ctx.args[0]) if len(ctx.args) == 2 else None
    price = _price(ctx.args[1], user.currency) if len(ctx.args) == 2 else None
    if wh is None or price is None:
        return sell_usage(user.currency)
    market = rules.from_settings(ctx.settings)
    problem = texts.order_problem(market, user.currency, wh, price)
    if problem:
        return problem
    energy = (await wallet.balances(ctx.db, user.id, user.currency)).energy
    if wh > energy:
        return _("You have only {energy}. Type a smaller amount.").format(energy=format_energy(energy))
    await by_sms.propose(ctx.db, user, SELL, wh, price)
    return confirm_sell(await data.sale_quote(ctx.db, user.currency, wh, price, user.id), user.currency)


async def handle_buy(ctx: CommandCtx) -> str:
    user = ctx.user
    if not user.sms_pin_enabled:
        return texts.sms_trading_off()
    wh = _kwh(ctx.args[0]) if len(ctx.args) == 1 else None
    if wh is None:
        return buy_usage()
    market = rules.from_settings(ctx.settings)
    problem = texts.order_problem(market, user.currency, wh)
    if problem:
        return problem
    quote = await data.quote(ctx.db, user.currency, wh, user.id, market)
    if quote.wh == 0:
        if await data.only_own_offers(ctx.db, user.currency, user.id):
            return _("The only offers now are yours: you cannot buy your own kWh.")
        return no_offers()
    money = (await wallet.balances(ctx.db, user.id, user.currency)).money
    if quote.total > money:
        return _("Not enough money: {total} needed, your balance is {balance}. Type fewer kWh.").format(
            total=format_money(quote.total, user.currency), balance=format_money(money, user.currency))
    await by_sms.propose(ctx.db, user, BUY, quote.wh, quote.top_price)
    return confirm_buy(quote.wh, quote.total, user.currency, partial=quote.wh < wh)


async def handle_yes(ctx: CommandCtx) -> str | None:
    """Place the waiting proposal once the PIN (checked by `receive` before this transaction) is right."""
    user, settings = ctx.user, ctx.settings
    proposal = await by_sms.waiting(ctx.db, user)
    if proposal is None or not user.sms_pin_enabled:
        return nothing_to_confirm()
    checked = ctx.pin_check
    if len(ctx.args) != 1 or checked is None:
        return _("Reply YES and your PIN, like YES 1234.")
    if checked.held:
        return pin_resets.held_text(checked.locked_until, user.country)
    if checked.locked_until is not None:
        return None if checked.locked_now else _("Money actions are locked until {time}. Try again later.").format(
            time=pins.local_hhmm(checked.locked_until, user.country))
    if not checked.ok:
        return pin_texts.tries_left(checked.tries_left)
    expires = by_sms.now() + timedelta(days=by_sms.OFFER_DAYS) if proposal.side == SELL else None
    try:
        placed = await book.place(ctx.db, f"sms-order:{proposal.id}", user, proposal.side, proposal.wh,
                                  proposal.price, rules.from_settings(settings), texts.messages(),
                                  expires_at=expires, keep_rest=False)
    except ledger.InsufficientFunds:      # the book left no order behind (a savepoint); YES can be tried again
        return _("Not enough money. Nothing was bought.") if proposal.side == BUY \
            else _("You do not have that many kWh. Nothing was listed.")
    except rules.BadOrder:                # the market's rules changed since SELL/BUY: say what they are now
        market = rules.from_settings(settings)
        return texts.order_problem(market, user.currency, proposal.wh, proposal.price) or sell_usage(user.currency)
    proposal.state, proposal.order_id = "placed", placed.order.id
    if proposal.side == BUY:     # the receipt is the answer (queued by the book)
        return None if placed.trades else _("Nothing was for sale at that price any more.")
    # What sold at once has its receipt from the book; the answer is what stays listed, if anything.
    return texts.listed_text(user, placed.order) if placed.order.state == "open" else None


def confirm_sell(quote: data.SaleQuote, currency: str) -> str:
    """What the seller will have (the buyer pays the fee), and what standing bids take at once."""
    shown = dict(energy=format_energy(quote.wh), price=texts.per_kwh(quote.price, currency),
                 money=format_money(quote.money, currency))
    if quote.now_wh:
        return _("Sell {energy} for 7 days: {now} now to bids, the rest listed at {price}. You get {money}, no fee. "
                 "Reply YES and your PIN, like YES 1234, within 10 minutes.").format(
            now=format_energy(quote.now_wh), **shown)
    return _("Sell {energy} at {price} for 7 days? You get {money} when it sells. Reply YES and your PIN, like "
             "YES 1234, within 10 minutes.").format(**shown)


def confirm_buy(wh: int, total: int, currency: str, partial: bool) -> str:
    if partial:
        return _("Only {energy} for sale: {total} incl. fee. Reply YES and your PIN to buy it, within 10 "
                 "minutes.").format(energy=format_energy(wh), total=format_money(total, currency))
    return _("Buy {energy} for {total} incl. fee? Reply YES and your PIN, like YES 1234, within 10 minutes.").format(
        energy=format_energy(wh), total=format_money(total, currency))


def no_offers() -> str:
    return _("No kWh for sale now. Send ALERT and a price per kWh to hear when there is.")


def nothing_to_confirm() -> str:
    return _("Nothing to confirm. Send SELL or BUY first.")


def sell_usage(currency: str = "ZMW") -> str:
    return _("To sell by SMS send SELL, the kWh and the price per kWh, like: SELL 5 {example}").format(
        example=texts.example_price(rules.MarketRules(), currency))


def buy_usage() -> str:
    return _("To buy by SMS send BUY and the kWh, like: BUY 3")


PRICE = Command("price", pgettext_noop("sms keyword", "PRICE"), handle_price)
ALERT = Command("alert", pgettext_noop("sms keyword", "ALERT"), handle_alert, needs_account=True)
SELL_CMD = Command("sell", pgettext_noop("sms keyword", "SELL"), handle_sell, needs_account=True)
BUY_CMD = Command("buy", pgettext_noop("sms keyword", "BUY"), handle_buy, needs_account=True)
