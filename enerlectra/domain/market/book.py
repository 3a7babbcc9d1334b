"""The order book in SQL: place, fill, cancel and expire orders, each inside the caller's transaction.

Every order of a market first locks that market's row (FOR UPDATE on PostgreSQL; SQLite's write
transaction is exclusive already), so matching sees a book nobody else is changing: 32 buyers racing for
one offer are served one after the other, and the offer is sold once. Money and Wh move only through
ledger entries:
  offer placed     seller Wh -> offers escrow                    key offer:<order>
  fill             escrow Wh -> buyer; buyer money (or the bids escrow) -> seller + fee   key fill:<taker>:<maker>
  bid left open    buyer money -> bids escrow (price x Wh + fee)  key bid:<order>
  cancel / expire  escrow -> back to its owner                   key release:<order>
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import faults
from enerlectra.checks import Problem
from enerlectra.clock import now
from enerlectra.db.models import Account, Market, MarketOrder, PriceAlert, Trade, User
from enerlectra.domain import ledger, outbox
from enerlectra.domain.ledger import Leg
from enerlectra.domain.market.matching import BUY, SELL, Fill, Order, match, money_for
from enerlectra.domain.market.rules import MarketRules

BOOK_DEPTH = 500           # resting orders read per match: more than any one order can take


def offers_code(currency: str) -> str:
    return f"market-offers-{currency}"


def bids_code(currency: str) -> str:
    return f"market-bids-{currency}"


@dataclass
class Placed:
    order: MarketOrder
    trades: list[Trade] = field(default_factory=list)
    created: bool = True

    @property
    def filled_wh(self) -> int:
        return sum(t.wh for t in self.trades)

    @property
    def paid(self) -> int:
        return sum(t.money + t.fee for t in self.trades)


@dataclass(frozen=True)
class Messages:
    """SMS texts, each rendered in its reader's language by the caller (the domain knows no language)."""

    sold: Callable[[User, list[Trade]], str]               # to a seller, per order placed (or per fill of an offer)
    bought: Callable[[User, list[Trade]], str]             # to a buyer, per order placed (or per fill of a bid)
    alert: Callable[[User, PriceAlert, int], str]          # an offer listed below the alert's price
    expired: Callable[[User, MarketOrder], str]


async def lock_market(s: AsyncSession, currency: str) -> Market:
    return (await s.execute(select(Market).where(Market.currency == currency).with_for_update())).scalar_one()


async def place(s: AsyncSession, key: str, user: User, side: str, wh: int, price: int, rules: MarketRules,
                messages: Messages, *, expires_at: datetime | None = None, keep_rest: bool = True) -> Placed:
    """Place an order and match it at once. Raises BadOrder, ledger.InsufficientFunds (nothing moves)."""
    rules.check_wh(wh)
    rules.check_price(user.currency, price)
    # The market's lock and the look-up of this request's order in one round trip (the lock is held from here).
    seen_id = select(MarketOrder.id).where(MarketOrder.request_key == key).scalar_subquery()
    market, seen_id = (await s.execute(select(Market, seen_id.label("seen")).where(Market.currency == user.currency)
                                       .with_for_update(of=Market))).one()
    if seen_id is not None:                                # the same hop or SMS again: what it did then
        seen = await s.get(MarketOrder, seen_id)
        trades = (await s.scalars(select(Trade).where(
            (Trade.buy_order_id == seen.id) | (Trade.sell_order_id == seen.id)).order_by(Trade.id))).all()
        return Placed(seen, list(trades), created=False)
    # A refused order (InsufficientFunds) leaves no row, no half-placed order.
    async with nullcontext() if faults.on("half_placed_order") else s.begin_nested():
        return await _place_new(s, market, key, user, side, wh, price, rules, messages, expires_at, keep_rest)


async def _place_new(s: AsyncSession, market: Market, key: str, user: User, side: str, wh: int, price: int,
                     rules: MarketRules, messages: Messages, expires_at: datetime | None, keep_rest: bool) -> Placed:
    order = MarketOrder(request_key=key, currency=user.currency, user_id=user.id, side=side, price=price, wh=wh,
                        remaining_wh=wh, escrow=0, state="open", expires_at=expires_at)
    s.add(order)
    await s.flush()
    if side == SELL:
        await _move(s, f"offer:{order.id}", "offer", *await ledger.accounts(s, [
            ledger.user_energy_spec(user.id), ledger.system_spec(offers_code(user.currency), ledger.ENERGY)]), wh)
        order.escrow = wh
    placed = Placed(order)
    resting = await _book(s, order)      # held here: _settle finds each maker in the session, no query
    fills, left = match(_as_order(order), [_as_order(row) for row in resting])
    for fill in fills:
        placed.trades.append(await _settle(s, market, order, fill, rules, messages, placed))
    order.remaining_wh = left
    if side == BUY:
        await _rest_of_bid(s, order, left, keep_rest, rules)
    elif left == 0:
        _close(order, "filled")
    if placed.trades:          # the taker hears once for the whole order; each maker per fill (in _settle)
        told, kind = (messages.bought, "market:bought") if side == BUY else (messages.sold, "market:sold")
        await notify(s, user, told(user, placed.trades), kind)
    if side == SELL and order.state == "open":
        await _fire_alerts(s, order, messages)
    return placed


def _as_order(row: MarketOrder) -> Order:
    return Order(row.id, row.user_id, row.side, row.price, row.remaining_wh)


async def _book(s: AsyncSession, taker: MarketOrder) -> list[MarketOrder]:
    """The other side's open orders that cross the taker's price, best first (the index's order)."""
    other = SELL if taker.side == BUY else BUY
    # populate_existing: the rows as they are now, under the market's lock (_settle reads them back by id)
    q = select(MarketOrder).where(MarketOrder.currency == taker.currency, MarketOrder.side == other,
                                  MarketOrder.state == "open", MarketOrder.user_id != taker.user_id
                                  ).execution_options(populate_existing=True)
    if other == SELL:
        q = q.where(MarketOrder.price <= taker.price).order_by(MarketOrder.price, MarketOrder.id)
    else:
        q = q.where(MarketOrder.price >= taker.price).order_by(MarketOrder.price.desc(), MarketOrder.id)
    return list((await s.scalars(q.limit(BOOK_DEPTH))).all())


async def _settle(s: AsyncSession, market: Market, taker: MarketOrder, fill: Fill, rules: MarketRules,
                  messages: Messages, placed: Placed) -> Trade:
    """One fill as one ledger entry, the maker's row updated, the trade recorded, the maker told."""
    maker = await s.get(MarketOrder, fill.maker_id)        # loaded fresh by _book in this transaction
    buy, sell = (taker, maker) if taker.side == BUY else (maker, taker)
    currency, money = taker.currency, fill.money
    fee = rules.fee(money)
    escrow_wh, buyer_energy, payer, seller_money, fees = await ledger.accounts(s, [
        ledger.system_spec(offers_code(currency), ledger.ENERGY), ledger.user_energy_spec(buy.user_id),
        ledger.user_money_spec(buy.user_id, currency) if buy is taker else ledger.system_spec(bids_code(currency),
                                                                                             currency),
        ledger.user_money_spec(sell.user_id, currency), ledger.system_spec("fees", currency)])
    legs = [Leg(escrow_wh.id, -fill.wh), Leg(buyer_energy.id, fill.wh),
            Leg(payer.id, -(money + fee)), Leg(seller_money.id, money)]
    if fee:
        legs.append(Leg(fees.id, fee))
    posted = await ledger.post(s, f"fill:{taker.id}:{maker.id}", "trade", legs,
                               memo=f"{fill.wh} Wh at {fill.price}/kWh")
    sell.escrow -= fill.wh
    if buy is maker:
        buy.escrow -= money + fee
    maker.remaining_wh -= fill.wh
    if maker.remaining_wh == 0:
        await _release(s, maker)               # a bid's rounding left-over goes back to its owner
        _close(maker, "filled")
    trade = Trade(currency=currency, buy_order_id=buy.id, sell_order_id=sell.id, buyer_id=buy.user_id,
                  seller_id=sell.user_id, price=fill.price, wh=fill.wh, money=money, fee=fee,
                  entry_id=posted.entry_id, created_at=now())
    s.add(trade)
    await s.flush()
    market.last_price, market.last_trade_at = fill.price, trade.created_at
    if sell is maker:
        seller = await s.get(User, sell.user_id)
        await notify(s, seller, messages.sold(seller, [trade]), "market:sold")
    else:
        buyer = await s.get(User, buy.user_id)
        await notify(s, buyer, messages.bought(buyer, [trade]), "market:bought")
    return trade


async def _rest_of_bid(s: AsyncSession, order: MarketOrder, left: int, keep_rest: bool, rules: MarketRules) -> None:
    if left == 0:
        _close(order, "filled")
    elif not keep_rest:
        _close(order, "cancelled")
    else:                                     # a standing bid: its money (and fee) held until it fills
        money = money_for(order.price, left)
        reserve = money + rules.fee(money)
        await _move(s, f"bid:{order.id}", "bid", await ledger.user_money(s, order.user_id, order.currency),
                    await ledger.system(s, bids_code(order.currency), order.currency), reserve)
        order.escrow = reserve


async def _move(s: AsyncSession, key: str, kind: str, source, target, amount: int) -> None:
    await ledger.post(s, key, kind, [Leg(source.id, -amount), Leg(target.id, amount)])


async def _release(s: AsyncSession, order: MarketOrder) -> int:
    """Give back what the order still holds in escrow; returns it (Wh for an offer, money for a bid)."""
    held = order.escrow
    if held > 0:
        if order.side == SELL:
            source = await ledger.system(s, offers_code(order.currency), ledger.ENERGY)
            target = await ledger.user_energy(s, order.user_id)
        else:
            source = await ledger.system(s, bids_code(order.currency), order.currency)
            target = await ledger.user_money(s, order.user_id, order.currency)
        await _move(s, f"release:{order.id}", "release", source, target, held)
        order.escrow = 0
    return held


def _close(order: MarketOrder, state: str) -> None:
    order.state, order.closed_at = state, now()


class NotYours(LookupError):
    """No open order of this user with that id."""


async def open_orders(s: AsyncSession, user_id: int, limit: int) -> list[MarketOrder]:
    """The user's open offers and bids, oldest first."""
    return list((await s.scalars(select(MarketOrder).where(
        MarketOrder.user_id == user_id, MarketOrder.state == "open").order_by(MarketOrder.id).limit(limit))).all())


async def cancel(s: AsyncSession, user: User, order_id: int) -> tuple[MarketOrder, int]:
    """Cancel the user's open order and give back its escrow: (the order, Wh or money returned).
    Raises NotYours."""
    await lock_market(s, user.currency)
    order = await s.scalar(select(MarketOrder).where(MarketOrder.id == order_id, MarketOrder.user_id == user.id,
                                                     MarketOrder.state == "open").execution_options(
        populate_existing=True))
    if order is None:
        raise NotYours(order_id)
    released = await _release(s, order)
    _close(order, "cancelled")
    return order, released


async def expire_due(s: AsyncSession, currency: str, messages: Messages, at: datetime | None = None) -> int:
    """Expire every open order of the market past its time: escrow back, the owner told by SMS. Returns how
    many expired."""
    at = at or now()
    await lock_market(s, currency)
    due = (await s.scalars(select(MarketOrder).where(
        MarketOrder.currency == currency, MarketOrder.state == "open", MarketOrder.expires_at < at)
        .order_by(MarketOrder.id).execution_options(populate_existing=True))).all()
    for order in due:
        await _release(s, order)
        _close(order, "expired")
        owner = await s.get(User, order.user_id)
        await notify(s, owner, messages.expired(owner, order), "market:expired", dedupe=f"market:expired:{order.id}")
    return len(due)


async def _fire_alerts(s: AsyncSession, offer: MarketOrder, messages: Messages) -> None:
    """Alerts waiting for a price below this new offer's fire once and are spent."""
    alerts = (await s.scalars(select(PriceAlert).where(
        PriceAlert.currency == offer.currency, PriceAlert.state == "active", PriceAlert.below > offer.price,
        PriceAlert.user_id != offer.user_id).order_by(PriceAlert.id))).all()
    for alert in alerts:
        await s.execute(update(PriceAlert).where(PriceAlert.id == alert.id)
                        .values(state="spent", fired_at=now()))
        owner = await s.get(User, alert.user_id)
        await notify(s, owner, messages.alert(owner, alert, offer.price), "market:alert",
                     dedupe=f"market:alert:{alert.id}")


async def notify(s: AsyncSession, user: User, body: str, kind: str, dedupe: str | None = None) -> None:
    """Queue one SMS to a trader (receipts go out even after STOP; alerts do not), sent after the commit."""
    await outbox.add(s, user.msisdn, body, kind, essential=kind != "market:alert", dedupe_key=dedupe)


async def add_alert(s: AsyncSession, user: User, below: int) -> PriceAlert:
    alert = PriceAlert(user_id=user.id, currency=user.currency, below=below, state="active")
    s.add(alert)
    await s.flush()
    return alert


async def check_escrow(s: AsyncSession, rules: MarketRules | None = None) -> list[Problem]:
    """What the open orders need, from their remaining quantity, against what they and the escrow accounts
    hold (ledger verify runs this): an offer needs its remaining Wh; a bid price x remaining (+ the fee when
    `rules` are given). The `escrow` column is checked, never trusted: an order that holds less than its
    remaining quantity needs could be filled from other traders' escrow."""
    problems = []
    for currency in (await s.scalars(select(Market.currency))).all():
        for side, code, asset in ((SELL, offers_code(currency), ledger.ENERGY),
                                  (BUY, bids_code(currency), currency)):
            problems += await _under_escrowed(s, currency, side, rules)
            held = await s.scalar(select(func.coalesce(func.sum(MarketOrder.escrow), 0)).where(
                MarketOrder.currency == currency, MarketOrder.side == side, MarketOrder.state == "open"))
            balance = await s.scalar(select(Account.balance).where(
                Account.code == ledger.system_code(code, asset))) or 0
            if held != balance:
                problems.append(Problem(ledger.system_code(code, asset),
                                        f"holds {balance} but open {side} orders say {held}"))
            leftovers = await s.scalar(select(func.count()).select_from(MarketOrder).where(
                MarketOrder.currency == currency, MarketOrder.side == side, MarketOrder.state != "open",
                MarketOrder.escrow != 0))
            if leftovers:
                problems.append(Problem(f"market {currency} {side}", f"{leftovers} closed order(s) still hold escrow"))
    return problems


def required_escrow(order: MarketOrder, rules: MarketRules | None = None) -> int:
    """What an open order must hold for its remaining quantity."""
    if order.side == SELL:
        return order.remaining_wh
    money = money_for(order.price, order.remaining_wh)
    return money + (rules.fee(money) if rules is not None else 0)


async def _under_escrowed(s: AsyncSession, currency: str, side: str, rules: MarketRules | None) -> list[Problem]:
    rows = (await s.scalars(select(MarketOrder).where(MarketOrder.currency == currency, MarketOrder.side == side,
                                                      MarketOrder.state == "open").order_by(MarketOrder.id))).all()
    return [Problem(f"order {o.id}", f"open {side} of {o.remaining_wh} Wh holds {o.escrow}, needs "
                                     f"{required_escrow(o, rules)}")
            for o in rows if o.escrow < required_escrow(o, rules)]
