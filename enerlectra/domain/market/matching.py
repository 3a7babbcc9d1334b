"""Matching as a pure function: an incoming order against the resting orders of the other side.

Price-time priority: the best price first, and at one price the oldest order first. A fill happens at
the resting (maker) order's price, so the incoming order is never filled worse than its limit. A user's
own resting orders are skipped (no self-trades). Quantities are integer Wh, prices integer minor units
per kWh; money for a fill is price x Wh / 1000, exact because quantities are whole lots and prices
whole ticks (rules.py). No float anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

BUY, SELL = "buy", "sell"


@dataclass(frozen=True)
class Order:
    id: int            # also the time priority: a lower id came first
    user_id: int
    side: str          # buy / sell
    price: int         # minor units per kWh: a buyer's most, a seller's least
    wh: int            # still to fill


@dataclass(frozen=True)
class Fill:
    maker_id: int
    taker_id: int
    price: int
    wh: int

    @property
    def money(self) -> int:
        return money_for(self.price, self.wh)


def money_for(price: int, wh: int) -> int:
    value, rest = divmod(price * wh, 1000)
    if rest:
        raise ValueError(f"{wh} Wh at {price}/kWh is not a whole minor unit: lots and ticks are out of step")
    return value


def crosses(taker: Order, maker: Order) -> bool:
    return maker.price <= taker.price if taker.side == BUY else maker.price >= taker.price


def priority(side_of_book: str):
    """Sort key of a book side: sellers cheapest first, buyers dearest first; then oldest first."""
    if side_of_book == SELL:
        return lambda o: (o.price, o.id)
    return lambda o: (-o.price, o.id)


def match(taker: Order, book: list[Order]) -> tuple[list[Fill], int]:
    """Fills for `taker` against `book` (resting orders of the other side), and the Wh left unfilled."""
    left = taker.wh
    fills: list[Fill] = []
    for maker in sorted((o for o in book if o.side != taker.side and o.user_id != taker.user_id and o.wh > 0),
                        key=priority(SELL if taker.side == BUY else BUY)):
        if left == 0 or not crosses(taker, maker):
            break
        wh = min(left, maker.wh)
        fills.append(Fill(maker.id, taker.id, maker.price, wh))
        left -= wh
    return fills, left
