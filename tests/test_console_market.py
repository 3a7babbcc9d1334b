"""The Market page: who may open it, each day's last price, best offer and best bid and volume (SQL over
trades and orders), the book by price level, the latest trades, the charts, CSV exports, and bad input."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from enerlectra.db.models import MarketOrder, Trade
from tests import console_seeds
from tests.console_helpers import operator_client
from tests.test_console_access import _cluster
from ussd_app import appkeys
from ussd_app.console import charts

PATH = "/console/market"
SELLER, SELLER2, BUYER = "+260971800001", "+260971800002", "+260971800003"


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
async def test_the_market_page_by_role(client, role, status):
    await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)
    assert (await client.get(PATH)).status == status


async def csv_of(client, table: str, **params: str) -> list[tuple[str, ...]]:
    resp = await client.get(PATH, params={"format": "csv", "table": table, **params})
    assert resp.status == 200 and resp.content_type == "text/csv"
    header, *rows = csv.reader(io.StringIO(await resp.text()))
    return [tuple(row) for row in rows]


@pytest.fixture
async def traded(client):
    """Two trades (K1.20 two days ago, K1.50 today); offers at K2.00 (two orders) and K2.50 and a bid at K1.00
    placed today, an offer at K3.00 and a bid at K0.80 placed yesterday."""
    app = client.app
    seller, seller2, buyer = [await console_seeds.add_user(app, n, name) for n, name in
                              ((SELLER, "Bwalya"), (SELLER2, "Chanda"), (BUYER, "Mutale"))]
    await console_seeds.trade(app, seller, buyer, 300, 120)
    async with app[appkeys.DB]() as s, s.begin():
        await s.execute(update(Trade).where(Trade.price == 120).values(
            created_at=datetime.now(timezone.utc) - timedelta(days=2)))
    await console_seeds.trade(app, seller2, buyer, 200, 150)
    await console_seeds.order(app, seller, "sell", 100, 200)
    await console_seeds.order(app, seller2, "sell", 300, 200)
    await console_seeds.order(app, seller, "sell", 100, 250)
    await console_seeds.order(app, buyer, "buy", 500, 100)
    await console_seeds.order(app, seller2, "sell", 100, 300)
    await console_seeds.order(app, buyer, "buy", 100, 80)
    async with app[appkeys.DB]() as s, s.begin():
        await s.execute(update(MarketOrder).where(MarketOrder.price.in_((300, 80))).values(
            created_at=datetime.now(timezone.utc) - timedelta(days=1)))


async def test_the_book_by_price_level_best_first(client, traded):
    await operator_client(client, "viewer")
    assert await csv_of(client, "offers") == [("K2.00", "0.4 kWh", "2"), ("K2.50", "0.1 kWh", "1"),
                                              ("K3.00", "0.1 kWh", "1")]
    assert await csv_of(client, "bids") == [("K1.00", "0.5 kWh", "1"), ("K0.80", "0.1 kWh", "1")]


async def test_each_day_has_its_last_price_best_offer_best_bid_and_volume(client, traded):
    await operator_client(client, "viewer")
    today = datetime.now(timezone.utc).date()
    days = {row[0]: row[1:] for row in await csv_of(client, "daily", days="7")}
    assert len(days) == 7 and min(days) == (today - timedelta(days=6)).isoformat()
    # Orders count on the day they were placed: today the K1.20 offer (sold at once) is the lowest offer and the
    # K1.50 bid (filled at once) the highest bid; yesterday's two orders still stand but count only yesterday.
    # Two days ago only the (moved) trade happened.
    assert days[today.isoformat()] == ("K1.50", "K1.20", "K1.50", "0.2 kWh", "1")
    assert days[(today - timedelta(days=1)).isoformat()] == ("", "K3.00", "K0.80", "0.0 kWh", "0")
    assert days[(today - timedelta(days=2)).isoformat()] == ("K1.20", "", "", "0.3 kWh", "1")


async def test_the_latest_trades_newest_first_and_the_prices_now(client, traded):
    await operator_client(client, "support")
    trades = await csv_of(client, "trades")
    assert [(price, energy, paid) for _id, _at, price, energy, paid, *_ in trades] == [
        ("K1.50", "0.2 kWh", "K0.30"), ("K1.20", "0.3 kWh", "K0.36")]
    page = await (await client.get(PATH)).text()
    cards = dict((name, value) for value, name in re.findall(r"<b>([^<]*)</b>([a-z ]+) per kWh", page))
    assert cards == {"last trade": "K1.50", "best offer": "K2.00", "best bid": "K1.00"}
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    assert "<polyline" in page or "<circle" in page


async def test_an_empty_market_shows_empty_tables_and_charts(client):
    await operator_client(client, "viewer")
    resp = await client.get(PATH, params={"currency": "tzs", "days": "90"})
    page = await resp.text()
    assert resp.status == 200 and "Market TZS" in page and "No trade yet." in page and "No open offer." in page
    assert len(await csv_of(client, "daily", currency="TZS", days="90")) == 90


@pytest.mark.parametrize("params, says", [
    ({"currency": "USD"}, "No 'USD' market: pick one of ZMW, TZS."),
    ({"currency": "=cmd|' /C calc'!A0"}, "No '=CM' market: pick one of ZMW, TZS."),
    ({"days": "8"}, "days must be one of 7, 30, 90."),
    ({"days": "-1"}, "days must be one of 7, 30, 90."),
    ({"days": "x" * 5000}, "days must be one of 7, 30, 90."),
])
async def test_bad_input_gets_a_400_in_one_line(client, params, says):
    await operator_client(client, "viewer")
    resp = await client.get(PATH, params=params)
    assert (resp.status, await resp.text()) == (400, says + "\n")


async def test_an_unknown_table_is_a_404(client):
    await operator_client(client, "viewer")
    assert (await client.get(PATH, params={"format": "csv", "table": "nope"})).status == 404


@pytest.mark.parametrize("values, lines, dots", [
    ([1, 2, 3], 1, 0),
    ([1, None, 3], 0, 2),
    ([1, 2, None, 3, 4], 2, 0),
    ([None, None], 0, 0),
    ([None, 5, 6, None, 7], 1, 1),
    ([], 0, 0),
])
def test_a_line_breaks_at_days_without_a_value(values, lines, dots):
    svg = str(charts.line_chart("t", [str(i) for i in range(len(values))], [charts.Series("s", values)]))
    assert (svg.count("<polyline"), svg.count("<circle")) == (lines, dots)


@pytest.mark.parametrize("bars", [1, 7, 12, 13, 30, 90])
def test_a_bar_chart_writes_at_most_twelve_labels_and_every_bar(bars):
    svg = str(charts.bar_chart("t", [(f"d{i}", float(i)) for i in range(bars)]))
    assert svg.count("<rect") == bars
    labels = svg.count('text-anchor="middle"')
    assert labels <= charts.MAX_X_LABELS and labels >= min(bars, charts.MAX_X_LABELS) // 2
