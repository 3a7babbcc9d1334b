"""What the market says by SMS and on screens, in the current language."""
from __future__ import annotations

from enerlectra import i18n
from enerlectra.domain.market.book import Messages
from enerlectra.domain.market.data import Snapshot
from enerlectra.domain.market.rules import BadOrder, MarketRules
from enerlectra.domain.money import format_energy, format_money, typed
from enerlectra.i18n import _

EXAMPLE_PRICE = {"ZMW": 120, "TZS": 50_000}      # a typical price per kWh (minor units) for "like ..." hints


def example_price(rules: MarketRules, currency: str) -> str:
    """A price the market would take, as a user types it: '1.20' in Zambia, '500' in Tanzania."""
    low, high = rules.price_range(currency)
    price = min(max(EXAMPLE_PRICE.get(currency, low), low), high)
    price -= price % rules.tick
    return typed(price if price >= low else price + rules.tick, currency)


def price_hint(currency: str, rules: MarketRules | None = None) -> str:
    return _("Type a price per kWh, like {example}.").format(example=example_price(rules or MarketRules(), currency))


def per_kwh(price: int, currency: str) -> str:
    return _("{price}/kWh").format(price=format_money(price, currency))


def prices(trades) -> str:
    """The price of some fills: one price per kWh, or the lowest to the highest when they differ."""
    currency, low, high = trades[0].currency, min(t.price for t in trades), max(t.price for t in trades)
    if low == high:
        return per_kwh(low, currency)
    return _("{price}/kWh").format(price=f"{format_money(low, currency)}-{format_money(high, currency)}")


def sold_text(user, trades) -> str:
    """What a seller got (the buyer pays the fee): once per order placed, or per fill of a standing offer."""
    return _("Enerlectra: you sold {energy} at {price} for {money}. It is in your wallet. Ref T{ref}.").format(
        energy=format_energy(sum(t.wh for t in trades)), price=prices(trades),
        money=format_money(sum(t.money for t in trades), trades[0].currency), ref=trades[0].id)


def bought_text(user, trades) -> str:
    currency = trades[0].currency
    return _("Enerlectra: you bought {energy} for {money}, fee {fee}. The kWh are in your account. "
             "Ref T{ref}.").format(energy=format_energy(sum(t.wh for t in trades)),
                                   money=format_money(sum(t.money for t in trades), currency),
                                   fee=format_money(sum(t.fee for t in trades), currency), ref=trades[0].id)


def alert_text(user, alert, price: int) -> str:
    return _("Enerlectra: kWh is now offered at {price}, below your alert of {below}. Dial *123# to buy.").format(
        price=per_kwh(price, alert.currency), below=per_kwh(alert.below, alert.currency))


def expired_text(user, order) -> str:
    if order.side == "sell":
        return _("Enerlectra: your offer of {energy} at {price} expired unsold. The kWh are back in your "
                 "account.").format(energy=format_energy(order.remaining_wh),
                                    price=per_kwh(order.price, order.currency))
    return _("Enerlectra: your bid for {energy} at {price} expired. The money is back in your wallet.").format(
        energy=format_energy(order.remaining_wh), price=per_kwh(order.price, order.currency))


def listed_text(user, order) -> str:
    """What stays on the book of an offer (after what sold at once); only sent when something does."""
    return _("Enerlectra: your offer of {energy} at {price} is listed. Ref O{ref}.").format(
        energy=format_energy(order.remaining_wh), price=per_kwh(order.price, order.currency), ref=order.id)


def sold_now_line(placed) -> str:
    """The screen after selling: what sold at once (price, total) and what, if anything, stays listed."""
    order, trades = placed.order, placed.trades
    sold = dict(sold=format_energy(placed.filled_wh), price=prices(trades),
                money=format_money(sum(t.money for t in trades), order.currency), ref=order.id)
    if order.state != "open":
        return _("Sold {sold} at {price} for {money}. It is in your wallet. Ref O{ref}.").format(**sold)
    return _("Sold {sold} at {price} for {money}. {left} listed at {listed}. Ref O{ref}.").format(
        left=format_energy(order.remaining_wh), listed=per_kwh(order.price, order.currency), **sold)


def market_lines(snap: Snapshot) -> list[str]:
    """The market in a few short lines (a screen, or the PRICE SMS)."""
    cur = snap.currency
    if snap.best_offers:
        offers = ", ".join(f"{format_energy(wh)} @ {format_money(p, cur)}" for p, wh in snap.best_offers)
        lines = [_("Offers: {offers}.").format(offers=offers)]
    else:
        lines = [_("No offers now.")]
    lines.append(_("Last {last}. 24h: {volume}, {low}-{high}").format(
        last=format_money(snap.last_price, cur) if snap.last_price else "-",
        volume=format_energy(snap.volume_24h),
        low=format_money(snap.low_24h, cur) if snap.low_24h else "-",
        high=format_money(snap.high_24h, cur) if snap.high_24h else "-"))
    return lines


def price_sms(snap: Snapshot) -> str:
    return _("Enerlectra market, price per kWh. {lines}").format(lines=" ".join(market_lines(snap)))


def alert_usage(currency: str = "ZMW") -> str:
    return _("To get an SMS when kWh is cheap, send ALERT and a price per kWh, like: ALERT {example}").format(
        example=example_price(MarketRules(), currency))


def alert_set(price: int, currency: str) -> str:
    return _("Alert set: one SMS when kWh is offered below {price}.").format(price=per_kwh(price, currency))


def sms_trading_off() -> str:
    return _("Buying and selling by SMS needs your PIN by SMS, which is off. Turn it on in *123# Settings, or "
             "trade in the menu.")


def order_problem(rules: MarketRules, currency: str, wh: int | None = None, price: int | None = None) -> str | None:
    """The market's rules in words (whole lots, price steps and limits), or None when the order keeps them."""
    try:
        if wh is not None:
            rules.check_wh(wh)
        if price is not None:
            rules.check_price(currency, price)
    except BadOrder as exc:
        if str(exc) in ("lot", "zero"):
            return _("Type kWh in steps of {lot}, like 2 or 2.5.").format(lot=format_energy(rules.lot_wh))
        if str(exc) == "tick":
            return _("Prices go in steps of {tick}. Type a price like {example}.").format(
                tick=format_money(rules.tick, currency), example=example_price(rules, currency))
        low, high = rules.price_range(currency)
        return _("Type a price from {low} to {high} per kWh.").format(
            low=format_money(low, currency), high=format_money(high, currency))
    return None


def _spoken(render):
    """A text renderer that speaks its reader's language, whatever the current one is."""
    return lambda user, *args: i18n.in_language_of(user, render, *args)


def messages() -> Messages:
    return Messages(sold=_spoken(sold_text), bought=_spoken(bought_text), alert=_spoken(alert_text),
                    expired=_spoken(expired_text))
