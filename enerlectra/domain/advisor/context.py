"""What the advisor may know about a user: facts that ground an answer, and nothing that identifies them.

No name, no phone number, no memo (memos can hold names): country, currency, balances, recent
activity by kind and amount, open mobile-money payments, the market (best offer, best bid, last price)
the user's own recent trades and open orders, and their community cluster in numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import MarketOrder, Payment, Trade, User
from enerlectra.domain import ledger, wallet
from enerlectra.domain.clusters import members, proposals
from enerlectra.domain.market import data
from enerlectra.domain.money import format_energy, format_money
from enerlectra.domain.payment_states import OPEN

COUNTRY_NAMES = {"ZM": "Zambia", "TZ": "Tanzania"}
RECENT = 5


@dataclass(frozen=True)
class MarketNow:
    """The live book in the user's currency, in minor units per kWh (None: no such order or trade yet)."""
    currency: str
    best_offer: int | None = None
    best_bid: int | None = None
    last_trade: int | None = None


@dataclass(frozen=True)
class UserFacts:
    country: str
    currency: str
    money: str
    energy: str
    recent: tuple[str, ...] = ()
    open_payments: int = 0
    market: tuple[str, ...] = field(default=())   # the market and the user's trades and orders
    cluster: tuple[str, ...] = field(default=())  # the user's community cluster, if any
    market_now: MarketNow | None = None           # what a price answer quotes (offline and Claude)

    def lines(self) -> list[str]:
        out = [f"Country: {COUNTRY_NAMES.get(self.country, self.country)}; currency {self.currency}.",
               f"Wallet balance: {self.money}. Energy credits: {self.energy}."]
        out.append("Recent activity (newest first): " + "; ".join(self.recent) + "." if self.recent
                   else "Recent activity: none yet.")
        if self.open_payments:
            out.append(f"Mobile-money payments still pending: {self.open_payments}.")
        out += list(self.market) or ["Energy market: no data."]
        out += list(self.cluster) or ["Community cluster: not a member of any."]
        return out


async def facts(db: AsyncSession, user: User) -> UserFacts:
    bal = await wallet.balances(db, user.id, user.currency)
    codes = [ledger.user_code(user.id, user.currency), ledger.user_code(user.id, ledger.ENERGY)]
    recent = []
    for line in await ledger.history(db, codes, limit=RECENT):
        amount = format_energy(abs(line.amount)) if line.asset == ledger.ENERGY \
            else format_money(abs(line.amount), line.asset)
        when = line.when.strftime("%d %b") if line.when else ""
        recent.append(f"{when} {line.kind} {'-' if line.amount < 0 else '+'}{amount}".strip())
    pending = await db.scalar(select(func.count()).select_from(Payment)
                              .where(Payment.user_id == user.id, Payment.state.in_(OPEN),
                                     Payment.funding.is_(None)))
    snap = await data.snapshot(db, user.currency)
    now = MarketNow(user.currency, snap.best_offers[0][0] if snap.best_offers else None, snap.best_bid,
                    snap.last_price)
    return UserFacts(user.country, user.currency, format_money(bal.money, bal.currency), format_energy(bal.energy),
                     tuple(recent), int(pending or 0), await _market(db, user, snap), await _cluster(db, user), now)


async def _cluster(db: AsyncSession, user: User) -> tuple[str, ...]:
    """The cluster in numbers (no names: not the cluster's, not its members')."""
    found = await members.membership_of(db, user.id)
    if found is None:
        return ()
    cluster, membership = found
    count = await members.count_members(db, cluster.id)
    pool = await members.pool_balance(db, cluster)
    open_ = len(await proposals.open_list(db, cluster.id))
    return (f"Community cluster: a {cluster.kind} cluster of {count} members; pooled fund "
            f"{format_money(pool, cluster.currency)}; the user is its {membership.role} and has given "
            f"{format_money(membership.contributed, cluster.currency)} of a "
            f"{format_money(cluster.target, cluster.currency)} target per member; open proposals: {open_}.",)


async def _market(db: AsyncSession, user: User, snap: data.Snapshot) -> tuple[str, ...]:

    def price(minor: int | None) -> str:
        return format_money(minor, user.currency) + "/kWh" if minor else "none"
    best = snap.best_offers[0][0] if snap.best_offers else None
    lines = [f"Energy market ({user.currency}): best offer {price(best)}, "
             f"best bid {price(snap.best_bid)}, last trade {price(snap.last_price)}, "
             f"24h volume {format_energy(snap.volume_24h)}."]
    trades = (await db.scalars(select(Trade).where((Trade.buyer_id == user.id) | (Trade.seller_id == user.id))
                               .order_by(Trade.id.desc()).limit(RECENT))).all()
    if trades:
        lines.append("The user's recent trades: " + "; ".join(
            f"{'sold' if t.seller_id == user.id else 'bought'} {format_energy(t.wh)} at {price(t.price)}"
            for t in trades) + ".")
    orders = (await db.execute(
        select(MarketOrder.side, func.count(), func.coalesce(func.sum(MarketOrder.remaining_wh), 0))
        .where(MarketOrder.user_id == user.id, MarketOrder.state == "open").group_by(MarketOrder.side))).all()
    for side, count, wh in orders:
        lines.append(f"Open {'offers' if side == 'sell' else 'bids'}: {count}, {format_energy(int(wh))} in all.")
    return tuple(lines)
