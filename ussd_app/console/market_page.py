"""The Market page, per currency market: price over time (each day's last trade, best offer and best bid), kWh
traded per day, the book now (open offers and bids by price level) and the latest trades, all from SQL.

A day's best offer (bid) is the lowest (highest) price of any offer (bid) that stood in the book at some time
that UTC day: placed before the day ended and not closed or expired before it began."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from aiohttp import web
from sqlalchemy import DateTime, String, func, literal, or_, select, union_all

from enerlectra.db.models import Market, MarketOrder, Trade
from enerlectra.domain.market import data
from enerlectra.domain.market.matching import BUY, SELL
from enerlectra.domain.money import decimals, format_energy, format_money
from ussd_app import appkeys
from ussd_app.console import access, charts, render

PATH = f"{access.PREFIX}/market"
NAV = ("Market", PATH, access.STAFF)
PERIODS = (7, 30, 90)           # days the charts may cover
DEFAULT_DAYS = 30
LEVELS = 50                     # price levels listed per side of the book
TRADES = 50                     # latest trades listed


def _days(first: date, count: int):
    """One row per UTC day (day, start, until): a UNION ALL of literals, the same SQL on SQLite and PostgreSQL."""
    stamp = DateTime(timezone=True)
    rows = []
    for n in range(count):
        day = first + timedelta(days=n)
        start = datetime.combine(day, time(), tzinfo=timezone.utc)
        rows.append(select(literal(day.isoformat(), String).label("day"), literal(start, stamp).label("start"),
                           literal(start + timedelta(days=1), stamp).label("until")))
    return union_all(*rows).subquery("days")


def _daily_query(currency: str, first: date, count: int):
    days = _days(first, count)
    traded = (Trade.currency == currency, Trade.created_at >= days.c.start, Trade.created_at < days.c.until)

    def standing(side: str):
        return (MarketOrder.currency == currency, MarketOrder.side == side, MarketOrder.created_at < days.c.until,
                or_(MarketOrder.closed_at.is_(None), MarketOrder.closed_at >= days.c.start),
                or_(MarketOrder.expires_at.is_(None), MarketOrder.expires_at >= days.c.start))

    return select(
        days.c.day,
        select(Trade.price).where(*traded).order_by(Trade.created_at.desc(), Trade.id.desc()).limit(1)
        .scalar_subquery(),
        select(func.min(MarketOrder.price)).where(*standing(SELL)).scalar_subquery(),
        select(func.max(MarketOrder.price)).where(*standing(BUY)).scalar_subquery(),
        select(func.coalesce(func.sum(Trade.wh), 0)).where(*traded).scalar_subquery(),
        select(func.count()).select_from(Trade).where(*traded).scalar_subquery(),
    ).order_by(days.c.day)


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
        first = datetime.now(timezone.utc).date() - timedelta(days=days - 1)
        # PostgreSQL sums bigints as numeric: back to int (Wh)
        daily = [(day, last, offer, bid, int(wh), n) for day, last, offer, bid, wh, n in
                 (await s.execute(_daily_query(currency, first, days))).all()]
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
