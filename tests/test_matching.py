"""The matching engine on its own: properties over any sequence of orders (hypothesis), and a few tables."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enerlectra.domain.market.matching import BUY, SELL, Fill, Order, crosses, match, money_for, priority

LOT, TICK = 100, 10


def replay(orders: list[Order]) -> tuple[list[Fill], dict[int, Order], dict[int, Order]]:
    """Every order in turn against the resting book, as the market runs them: (fills, book after, all orders)."""
    book: dict[int, Order] = {}
    fills: list[Fill] = []
    for taker in orders:
        got, left = match(taker, list(book.values()))
        for fill in got:
            maker = book[fill.maker_id]
            book[maker.id] = Order(maker.id, maker.user_id, maker.side, maker.price, maker.wh - fill.wh)
            if book[maker.id].wh == 0:
                del book[maker.id]
        fills += got
        if left:
            book[taker.id] = Order(taker.id, taker.user_id, taker.side, taker.price, left)
    return fills, book, {o.id: o for o in orders}


orders_strategy = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from([BUY, SELL]), st.integers(10, 30), st.integers(1, 20)),
    max_size=40,
).map(lambda raw: [Order(i + 1, user, side, price * TICK, lots * LOT)
                   for i, (user, side, price, lots) in enumerate(raw)])


@settings(max_examples=300)
@given(orders_strategy)
def test_no_fill_is_worse_than_either_limit(orders):
    fills, _book, by_id = replay(orders)
    for fill in fills:
        taker, maker = by_id[fill.taker_id], by_id[fill.maker_id]
        buy, sell = (taker, maker) if taker.side == BUY else (maker, taker)
        assert sell.price <= fill.price <= buy.price
        assert fill.price == maker.price                      # the resting order sets the price
        assert taker.user_id != maker.user_id                 # no self-trades


@settings(max_examples=300)
@given(orders_strategy)
def test_energy_and_money_are_conserved(orders):
    fills, book, by_id = replay(orders)
    for order in orders:
        filled = sum(f.wh for f in fills if order.id in (f.taker_id, f.maker_id))
        resting = book[order.id].wh if order.id in book else 0
        assert filled + resting <= order.wh                   # never more than asked
        assert filled + resting == order.wh or order.id not in book
    def filled(side: str) -> int:        # Wh that left sellers' orders, Wh that reached buyers' orders
        return sum(f.wh for f in fills for o in (by_id[f.taker_id], by_id[f.maker_id]) if o.side == side)
    assert filled(SELL) == filled(BUY)
    assert all(by_id[f.taker_id].side != by_id[f.maker_id].side for f in fills)
    assert all(f.wh % LOT == 0 and f.wh > 0 for f in fills)


@settings(max_examples=300)
@given(orders_strategy)
def test_price_time_priority_and_a_book_that_never_crosses(orders):
    book: dict[int, Order] = {}
    for taker in orders:
        got, left = match(taker, list(book.values()))
        makers = [book[f.maker_id] for f in got]
        key = priority(SELL if taker.side == BUY else BUY)
        assert makers == sorted(makers, key=key)             # best price first, then oldest
        untouched = [o for o in book.values() if o.side != taker.side and o.user_id != taker.user_id
                     and o.id not in {m.id for m in makers}]
        for other in untouched:                              # nothing better (or as good and older) was skipped
            for maker in makers:
                assert key(other) > key(maker) or not crosses(taker, other)
        for fill in got:
            maker = book[fill.maker_id]
            book[maker.id] = Order(maker.id, maker.user_id, maker.side, maker.price, maker.wh - fill.wh)
            if book[maker.id].wh == 0:
                del book[maker.id]
        if left:
            book[taker.id] = Order(taker.id, taker.user_id, taker.side, taker.price, left)
        asks = [o for o in book.values() if o.side == SELL]
        bids = [o for o in book.values() if o.side == BUY]
        for ask in asks:                                     # only one user's own orders may cross
            for bid in bids:
                assert ask.price > bid.price or ask.user_id == bid.user_id


@pytest.mark.parametrize("book, taker, fills, left", [
    ([Order(1, 1, SELL, 120, 300)], Order(9, 2, BUY, 120, 300), [(1, 120, 300)], 0),
    ([Order(1, 1, SELL, 130, 300)], Order(9, 2, BUY, 120, 300), [], 300),               # too dear
    ([Order(1, 1, SELL, 120, 200), Order(2, 3, SELL, 110, 200)], Order(9, 2, BUY, 130, 300),
     [(2, 110, 200), (1, 120, 100)], 0),                                                # cheapest first
    ([Order(2, 1, SELL, 110, 100), Order(1, 3, SELL, 110, 100)], Order(9, 2, BUY, 110, 100),
     [(1, 110, 100)], 0),                                                               # then oldest
    ([Order(1, 2, SELL, 100, 500)], Order(9, 2, BUY, 200, 500), [], 500),                # own offer skipped
    ([Order(1, 1, BUY, 150, 300)], Order(9, 2, SELL, 120, 500), [(1, 150, 300)], 200),   # bid pays its price
])
def test_match_table(book, taker, fills, left):
    got, rest = match(taker, book)
    assert [(f.maker_id, f.price, f.wh) for f in got] == fills and rest == left


def test_money_must_be_whole_minor_units():
    assert money_for(120, 500) == 60
    with pytest.raises(ValueError):
        money_for(115, 100)
