"""What screens and SMS show about a market, computed in SQL (never every row in Python)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Market, MarketOrder, Trade
from enerlectra.domain.market.matching import BUY, SELL, money_for
from enerlectra.domain.market.rules import MarketRules


@dataclass(frozen=True)
class Snapshot:
    currency: str
    best_offers: tuple[tuple[int, int], ...]   # (price, Wh) of the 3 best offers, best first
    best_bid: int | None
    last_price: int | None
    volume_24h: int                            # Wh traded in the last 24 hours
    low_24h: int | None
    high_24h: int | None


@dataclass(frozen=True)
class Prices:
    best_offer: int | None
    best_bid: int | None
    last_price: int | None


async def prices(s: AsyncSession, currency: str) -> Prices:
    """The three prices a trade screen shows, in one query (the market screen's snapshot takes four)."""
    return Prices(*(await s.execute(_PRICES, {"currency": currency})).one())


def _open_orders(side: str):
    return (MarketOrder.currency == bindparam("currency"), MarketOrder.side == side,
            MarketOrder.state == "open")


# Built once (a statement reused skips building its cache key): the trade screens read it every hop.
_PRICES = select(select(func.min(MarketOrder.price)).where(*_open_orders(SELL)).scalar_subquery(),
                 select(func.max(MarketOrder.price)).where(*_open_orders(BUY)).scalar_subquery(),
                 select(Market.last_price).where(Market.currency == bindparam("currency")).scalar_subquery())


async def snapshot(s: AsyncSession, currency: str, at: datetime | None = None) -> Snapshot:
    at = at or datetime.now(timezone.utc)
    offers = (await s.execute(select(MarketOrder.price, MarketOrder.remaining_wh).where(
        MarketOrder.currency == currency, MarketOrder.side == SELL, MarketOrder.state == "open")
        .order_by(MarketOrder.price, MarketOrder.id).limit(3))).all()
    best_bid = await s.scalar(select(func.max(MarketOrder.price)).where(
        MarketOrder.currency == currency, MarketOrder.side == BUY, MarketOrder.state == "open"))
    last = await s.scalar(select(Market.last_price).where(Market.currency == currency))
    volume, low, high = (await s.execute(select(
        func.coalesce(func.sum(Trade.wh), 0), func.min(Trade.price), func.max(Trade.price)).where(
        Trade.currency == currency, Trade.created_at >= at - timedelta(hours=24)))).one()
    return Snapshot(currency, tuple((p, w) for p, w in offers), best_bid, last, int(volume), low, high)


@dataclass(frozen=True)
class Quote:
    wh: int                 # how much can be bought now (may be less than asked)
    money: int
    fee: int
    top_price: int | None   # the dearest price used: the buy's limit
    levels: int             # offers it takes from

    @property
    def total(self) -> int:
        return self.money + self.fee


async def quote(s: AsyncSession, currency: str, wh: int, buyer_id: int, rules: MarketRules) -> Quote:
    """The cost of buying `wh` now at the best prices, across as many offers as it takes."""
    left, money, fee, top, levels = wh, 0, 0, None, 0
    rows = (await s.execute(select(MarketOrder.price, MarketOrder.remaining_wh).where(
        MarketOrder.currency == currency, MarketOrder.side == SELL, MarketOrder.state == "open",
        MarketOrder.user_id != buyer_id).order_by(MarketOrder.price, MarketOrder.id).limit(500))).all()
    for price, available in rows:
        if left == 0:
            break
        take = min(left, available)
        part = money_for(price, take)
        money, fee, top, levels, left = money + part, fee + rules.fee(part), price, levels + 1, left - take
    return Quote(wh - left, money, fee, top, levels)


async def only_own_offers(s: AsyncSession, currency: str, user_id: int) -> bool:
    """True when every open offer is this user's (buying them is refused)."""
    mine, others = (await s.execute(select(
        func.count().filter(MarketOrder.user_id == user_id), func.count().filter(MarketOrder.user_id != user_id))
        .where(MarketOrder.currency == currency, MarketOrder.side == SELL, MarketOrder.state == "open"))).one()
    return mine > 0 and others == 0


@dataclass(frozen=True)
class SaleQuote:
    """What selling `wh` at `price` pays the seller (the buyer pays the fee): standing bids at or above the
    price take `now_wh` at once at their own prices; the rest is listed at `price`."""
    wh: int
    price: int
    now_wh: int
    now_money: int

    @property
    def money(self) -> int:
        """What the seller has once all of it sells."""
        return self.now_money + money_for(self.price, self.wh - self.now_wh)


async def sale_quote(s: AsyncSession, currency: str, wh: int, price: int, seller_id: int) -> SaleQuote:
    left, money = wh, 0
    rows = (await s.execute(select(MarketOrder.price, MarketOrder.remaining_wh).where(
        MarketOrder.currency == currency, MarketOrder.side == BUY, MarketOrder.state == "open",
        MarketOrder.user_id != seller_id, MarketOrder.price >= price)
        .order_by(MarketOrder.price.desc(), MarketOrder.id).limit(500))).all()
    for bid, available in rows:
        if left == 0:
            break
        take = min(left, available)
        money, left = money + money_for(bid, take), left - take
    return SaleQuote(wh, price, wh - left, money)
