"""The Market page, per currency market: price over time (each day's last trade, best offer and best bid), kWh
traded per day, the book now (open offers and bids by price level) and the latest trades, all from SQL.

A day's best offer (bid) is the lowest offer (highest bid) placed that UTC day: one pass over the period's
orders, grouped by day. (Which orders stood in the book at some time each day would take a pass per day; the
book as it stands now is on the cards above the charts.)"""
from __future__ import annotations

from decimal import Decimal

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Market, MarketOrder, Trade
from enerlectra.domain.market import data
from enerlectra.domain.market.matching import BUY, SELL
from enerlectra.domain.money import decimals, format_energy, format_money
from enerlectra.reports.periods import Period, as_date, utc_day
from ussd_app import appkeys
from ussd_app.console import access, charts, render

PATH = f"{access.PREFIX}/market"
NAV = ("Market", PATH, access.STAFF)
PERIODS = (7, 30, 90)           # days the charts may cover
DEFAULT_DAYS = 30
LEVELS = 50                     # price levels listed per side of the book
TRADES = 50                     # latest trades listed


async def _daily(s: AsyncSession, currency: str, period: Period) -> list[tuple]:
    """(day, last price, best offer, best bid, Wh traded, trades) for every day of the period, oldest first."""
    traded_day = utc_day(s, Trade.created_at).label("day")
    per_day = (select(traded_day, func.max(Trade.id).label("last_id"), func.sum(Trade.wh).label("wh"),
                      func.count().label("trades"))
               .where(Trade.currency == currency, Trade.created_at >= period.start, Trade.created_at < period.end)
               .group_by(traded_day).subquery())
    trades = (await s.execute(select(per_day.c.day, Trade.price, per_day.c.wh, per_day.c.trades)
                              .join(Trade, Trade.id == per_day.c.last_id))).all()   # the day's last trade
    placed_day = utc_day(s, MarketOrder.created_at).label("day")
    orders = (await s.execute(
        select(placed_day, MarketOrder.side, func.min(MarketOrder.price), func.max(MarketOrder.price))
        .where(MarketOrder.currency == currency, MarketOrder.created_at >= period.start,
               MarketOrder.created_at < period.end)
        .group_by(placed_day, MarketOrder.side))).all()
    last = {as_date(day): (price, int(wh), trades) for day, price, wh, trades in trades}
    offers = {as_date(day): low for day, side, low, _high in orders if side == SELL}
    bids = {as_date(day): high for day, side, _low, high in orders if side == BUY}
    return [(day.isoformat(), *last.get(day, (None, 0, 0))[:1], offers.get(day), bids.get(day),
             *last.get(day, (None, 0, 0))[1:]) for day in period.each_day()]


def _book_query(currency: str, side: str):
    price = MarketOrder.price if side == SELL else MarketOrder.price.desc()     # best first
    return (select(MarketOrder.price, func.sum(MarketOrder.remaining_wh), func.count())
            .where(MarketOrder.currency == currency, MarketOrder.side == side, MarketOrder.state == "open")
            .group_by(MarketOrder.price).order_by(price).limit(LEVELS))


def _major(minor: int | None, currency: str) -> float | None:
    """A price in major units for the chart's scale only (tables show format_money)."""
    return None if minor is None else float(Decimal(minor).scaleb(-decimals(currency)))


def _money(minor: int | None, currency: str) -> str:
    return "" if minor is None else format_money(minor, currency)


def _choice(request: web.Request, currencies: list[str]) -> tuple[str, int]:
    currency = request.query.get("currency", currencies[0] if currencies else "ZMW").upper()
    if currency not in currencies:
        raise web.HTTPBadRequest(text=f"No {currency[:3]!r} market: pick one of {', '.join(currencies)}.\n")
    days = request.query.get("days", str(DEFAULT_DAYS))
    if days not in {str(p) for p in PERIODS}:
        raise web.HTTPBadRequest(text=f"days must be one of {', '.join(map(str, PERIODS))}.\n")
    return currency, int(days)


@access.allow(*NAV[2])
async def market(request: web.Request) -> web.StreamResponse:
    async with request.app[appkeys.DB_READ]() as s:
        currencies = list((await s.scalars(select(Market.currency).order_by(Market.currency.desc()))).all())
        currency, days = _choice(request, currencies)
        daily = await _daily(s, currency, Period.ending(days))
        # PostgreSQL sums bigints as numeric: back to int (Wh)
        offers = [(p, int(wh), n) for p, wh, n in (await s.execute(_book_query(currency, SELL))).all()]
        bids = [(p, int(wh), n) for p, wh, n in (await s.execute(_book_query(currency, BUY))).all()]
        trades = (await s.execute(select(
            Trade.id, Trade.created_at, Trade.price, Trade.wh, Trade.money, Trade.fee, Trade.buyer_id,
            Trade.seller_id).where(Trade.currency == currency).order_by(Trade.id.desc()).limit(TRADES))).all()
        now = await data.prices(s, currency)
    labels = [day for day, *_ in daily]
    price_chart = charts.line_chart(f"Price per kWh ({currency})", labels, [
        charts.Series("last trade", [_major(last, currency) for _d, last, *_ in daily]),
        charts.Series("best offer", [_major(offer, currency) for _d, _l, offer, *_ in daily]),
        charts.Series("best bid", [_major(bid, currency) for _d, _l, _o, bid, *_ in daily])])
    volume_chart = charts.bar_chart("kWh traded per day", [(day[5:], wh / 1000) for day, _l, _o, _b, wh, _n in daily])
    tables = [
        render.Table("daily", ["day", "last price", "best offer", "best bid", "energy", "trades"],
                     [(day, _money(last, currency), _money(offer, currency), _money(bid, currency),
                       format_energy(wh), n) for day, last, offer, bid, wh, n in reversed(daily)],
                     title="Per day (newest first)"),
        render.Table("offers", ["price", "energy", "orders"],
                     [(format_money(p, currency), format_energy(wh), n) for p, wh, n in offers],
                     title=f"Offers (best {LEVELS} price levels)", empty="No open offer."),
        render.Table("bids", ["price", "energy", "orders"],
                     [(format_money(p, currency), format_energy(wh), n) for p, wh, n in bids],
                     title=f"Bids (best {LEVELS} price levels)", empty="No open bid."),
        render.Table("trades", ["trade", "when", "price", "energy", "paid", "fee", "buyer", "seller"],
                     [(tid, at, format_money(price, currency), format_energy(wh), format_money(money, currency),
                       format_money(fee, currency), buyer, seller)
                      for tid, at, price, wh, money, fee, buyer, seller in trades],
                     title=f"Latest {TRADES} trades", empty="No trade yet."),
    ]
    context = {"currency": currency, "currencies": currencies, "days": days, "periods": PERIODS,
               "now": {"last trade": _money(now.last_price, currency) or "-",
                       "best offer": _money(now.best_offer, currency) or "-",
                       "best bid": _money(now.best_bid, currency) or "-"},
               "price_chart": price_chart, "volume_chart": volume_chart}
    return render.page(request, "market.html", context, *tables)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, market)]
