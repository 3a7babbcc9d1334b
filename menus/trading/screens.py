"""Trade energy screens: checks that need SQL happen here (Reject says what to type); orders go to the book."""
from __future__ import annotations

from datetime import datetime, timedelta

from enerlectra.db.models import MarketOrder, User
from enerlectra.domain import ledger, pins, wallet
from enerlectra.domain.market import book, data
from enerlectra.domain.market import rules as market_rules
from enerlectra.domain.market import texts
from enerlectra.domain.market.matching import BUY, SELL
from enerlectra.domain.money import format_energy, format_money
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Reject, Rendered, Screen
from menus.common import money_locked, money_pin

BID_DAYS = 7                     # a standing bid for the rest of a buy stays this long
MY_ORDERS = 9                    # open orders listed (one key each)


def _rules(ctx: Ctx) -> market_rules.MarketRules:
    return market_rules.from_settings(ctx.services.settings)


def _price(ctx: Ctx, price: int | None) -> str:
    return format_money(price, ctx.session.currency) if price else "-"


def _order_problem(ctx: Ctx, wh: int | None = None, price: int | None = None) -> Reject | None:
    problem = texts.order_problem(_rules(ctx), ctx.session.currency, wh, price)
    return Reject(problem) if problem else None


async def menu(ctx: Ctx) -> Rendered:
    async with ctx.services.reads() as s:
        now = await data.prices(s, ctx.session.currency)
    return Screen([_("Trade energy. Best offer {best}, last {last} per kWh").format(
        best=_price(ctx, now.best_offer), last=_price(ctx, now.last_price))],
        [("1", _("Sell kWh")), ("2", _("Buy kWh")), ("3", _("My offers")), ("4", _("Market")),
         ("5", _("Price alert"))])


# -- sell ----------------------------------------------------------------------------------------

async def sellkwh(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    async with ctx.services.reads() as s:
        energy = (await wallet.balances(s, ctx.session.user_id, ctx.session.currency)).energy
    return Screen([_("You have {energy}. How many kWh to sell?").format(energy=format_energy(energy))])


async def sellprice(ctx: Ctx) -> Rendered:
    wh = ctx.session.data["wh"]
    if ctx.text is not None:
        problem = _order_problem(ctx, wh=wh)
        if problem:
            return problem
    async with ctx.services.reads() as s:
        energy = (await wallet.balances(s, ctx.session.user_id, ctx.session.currency)).energy
        now = await data.prices(s, ctx.session.currency)
    if ctx.text is not None and wh > energy:
        return Reject(_("You have only {energy}. Type a smaller amount.").format(energy=format_energy(energy)))
    return Screen([_("Price per kWh in {currency}? Now: best offer {ask}, best bid {bid}, last {last}.").format(
        currency=ctx.session.currency, ask=_price(ctx, now.best_offer), bid=_price(ctx, now.best_bid),
        last=_price(ctx, now.last_price))])


async def sellexpiry(ctx: Ctx) -> Rendered:
    data_ = ctx.session.data
    if ctx.text is not None:
        problem = _order_problem(ctx, price=data_["price"])
        if problem:
            return problem
    return Screen([_("Offer {energy} at {price}. For how long?").format(
        energy=format_energy(data_["wh"]), price=texts.per_kwh(data_["price"], ctx.session.currency))],
        [("1", _("Until tonight")), ("2", _("3 days")), ("3", _("7 days"))])


def _expires(ctx: Ctx, days: int) -> datetime:
    """Midnight local time, `days` days from today (0: tonight)."""
    local = pins.LOCAL_TIME.get(ctx.session.country)
    today = datetime.now(local).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days + 1)


async def sellconfirm(ctx: Ctx) -> Rendered:
    d, currency = ctx.session.data, ctx.session.currency
    async with ctx.services.db_read() as s:
        quote = await data.sale_quote(s, currency, d["wh"], d["price"], ctx.session.user_id)
    shown = dict(energy=format_energy(d["wh"]), price=texts.per_kwh(d["price"], currency),
                 date=(_expires(ctx, d["days"]) - timedelta(minutes=1)).strftime("%d/%m %H:%M"),
                 money=format_money(quote.money, currency))
    if quote.now_wh:              # standing bids at or above the price take some at once, at their prices
        return Screen([_("Sell {energy}: {now} now to bids, the rest listed at {price}. You get {money}, no fee. "
                         "Enter your PIN:").format(now=format_energy(quote.now_wh), **shown)])
    return Screen([_("Sell {energy} at {price} until {date}? You get {money} when it sells, no fee. Enter your "
                     "PIN:").format(**shown)])


async def selldone(ctx: Ctx) -> Rendered:
    d, session = ctx.session.data, ctx.session
    if ctx.text is None:
        return Redirect("trade_menu")
    refused = await money_pin(ctx, step="sell")
    if refused is not None:
        return refused
    key = f"{ctx.hop_key}:sell"
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, session.user_id)
            placed = await book.place(s, key, me, SELL, d["wh"], d["price"], _rules(ctx), texts.messages(),
                                      expires_at=_expires(ctx, d["days"]))
            if placed.created and placed.order.state == "open":      # the book told what sold at once
                await book.notify(s, me, texts.listed_text(me, placed.order), "market:listed")
    except ledger.InsufficientFunds:
        return Screen([_("You do not have that many kWh. Nothing was listed.")], end=True)
    session.data = {}
    order = placed.order
    if placed.trades:
        return Screen([texts.sold_now_line(placed)], end=True)
    return Screen([_("Listed: {energy} at {price}. Ref O{ref}. We will SMS you when it sells.").format(
        energy=format_energy(order.wh), price=texts.per_kwh(order.price, order.currency), ref=order.id)], end=True)


# -- buy -----------------------------------------------------------------------------------------

async def buykwh(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    return Screen([_("How many kWh to buy?")])


async def buyquote(ctx: Ctx) -> Rendered:
    d, currency = ctx.session.data, ctx.session.currency
    if ctx.text is not None or "quote_wh" not in d:
        problem = _order_problem(ctx, wh=d["wh"])
        if problem:
            return problem
        async with ctx.services.db_read() as s:
            quote = await data.quote(s, currency, d["wh"], ctx.session.user_id, _rules(ctx))
            only_mine = await data.only_own_offers(s, currency, ctx.session.user_id)
            money = (await wallet.balances(s, ctx.session.user_id, currency)).money
        if quote.wh == 0:
            if only_mine:
                return Reject(_("The only offers now are yours: you cannot buy your own kWh."))
            return Screen([_("No kWh for sale now. Try later, or set a price alert (Trade, 5) and we will "
                             "SMS you.")], end=True)
        if quote.total > money:
            return Reject(_("Not enough money: {total} needed, your balance is {balance}. Type fewer kWh.").format(
                total=format_money(quote.total, currency), balance=format_money(money, currency)))
        d.update(quote_wh=quote.wh, quote_total=quote.total, top=quote.top_price, partial=quote.wh < d["wh"],
                 fee=quote.fee)
    if not d["partial"]:
        return Screen([_("{energy} for {total} incl. fee {fee}. Enter your PIN to buy:").format(
            energy=format_energy(d["quote_wh"]), total=format_money(d["quote_total"], currency),
            fee=format_money(d.get("fee", 0), currency))])
    return Screen([_("Only {energy} for sale, {total} incl. fee.").format(
        energy=format_energy(d["quote_wh"]), total=format_money(d["quote_total"], currency))],
        [("1", _("Buy it, cancel the rest")),
         ("2", _("Buy it, bid {price} for the rest").format(price=texts.per_kwh(d["top"], currency)))])


async def buypin(ctx: Ctx) -> Rendered:
    return Screen([_("Enter your PIN to buy {energy}:").format(energy=format_energy(ctx.session.data["quote_wh"]))])


async def buydone(ctx: Ctx) -> Rendered:
    d, session, currency = ctx.session.data, ctx.session, ctx.session.currency
    if ctx.text is None:
        return Redirect("trade_menu")
    refused = await money_pin(ctx, step="buy")
    if refused is not None:
        return refused
    keep_rest = bool(d.get("keep_rest"))
    key = f"{ctx.hop_key}:buy"
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, session.user_id)
            placed = await book.place(s, key, me, BUY, d["wh"] if keep_rest else d["quote_wh"], d["top"],
                                      _rules(ctx), texts.messages(), keep_rest=keep_rest,
                                      expires_at=_expires(ctx, BID_DAYS) if keep_rest else None)
    except ledger.InsufficientFunds:
        return Screen([_("Not enough money. Nothing was bought.")], end=True)
    session.data = {}
    order = placed.order
    lines = [_("Bought {energy} for {total} incl. fee.").format(
        energy=format_energy(placed.filled_wh), total=format_money(placed.paid, currency))] if placed.trades \
        else [_("Nothing was for sale at that price any more.")]
    if order.state == "open":
        lines.append(_("Your bid for {energy} at {price} stays open 7 days.").format(
            energy=format_energy(order.remaining_wh), price=texts.per_kwh(order.price, currency)))
    return Screen(lines, end=True)


# -- my offers, market, alerts -------------------------------------------------------------------

async def myorders(ctx: Ctx) -> Rendered:
    async with ctx.services.db_read() as s:
        orders = await book.open_orders(s, ctx.session.user_id, MY_ORDERS)
    if not orders:
        return Screen([_("You have no open offers or bids.")])
    ctx.session.data["orders"] = [o.id for o in orders]
    return Screen([_("Pick one to cancel:")], [(str(i), _line(o)) for i, o in enumerate(orders, start=1)])


def _line(order: MarketOrder) -> str:
    what = _("Sell") if order.side == SELL else _("Bid")
    return f"{what} {format_energy(order.remaining_wh)} @ {format_money(order.price, order.currency)}"


async def cancel(ctx: Ctx) -> Rendered:
    async with ctx.services.db_read() as s:
        order = await s.get(MarketOrder, ctx.session.data["order_id"])
    if order is None or order.state != "open" or order.user_id != ctx.session.user_id:
        return Redirect("trade_myorders", flash=_("That offer is no longer open."))
    return Screen([_("Cancel: {line}?").format(line=_line(order))], [("1", _("Yes, cancel it"))])


async def cancelled(ctx: Ctx) -> Rendered:
    try:
        async with unit_of_work(ctx.services.db) as s:
            me = await s.get(User, ctx.session.user_id)
            order, released = await book.cancel(s, me, ctx.session.data["order_id"])
    except book.NotYours:
        return Redirect("trade_myorders", flash=_("That offer is no longer open."))
    back = format_energy(released) if order.side == SELL else format_money(released, order.currency)
    return Redirect("trade_myorders", flash=_("Cancelled. {amount} back to you.").format(amount=back))


async def market(ctx: Ctx) -> Rendered:
    async with ctx.services.db_read() as s:
        snap = await data.snapshot(s, ctx.session.currency)
    return Screen(texts.market_lines(snap))


async def alertprice(ctx: Ctx) -> Rendered:
    async with ctx.services.db_read() as s:
        now = await data.prices(s, ctx.session.currency)
    return Screen([_("SMS me when kWh is offered below what price? Best offer now {best}.").format(
        best=_price(ctx, now.best_offer))])


async def alertset(ctx: Ctx) -> Rendered:
    if ctx.text is None:
        return Redirect("trade_menu")
    async with unit_of_work(ctx.services.db) as s:
        me = await s.get(User, ctx.session.user_id)
        alert = await book.add_alert(s, me, ctx.session.data["price"])
    ctx.session.data = {}
    return Screen([texts.alert_set(alert.below, alert.currency)], end=True)
