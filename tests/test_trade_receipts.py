"""Selling into standing bids says exactly what happened, by USSD and by SMS (issue 16, item 3), and the sell
confirm says what the seller gets (item 8): sold X at P for T; the rest listed only when there is a rest."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from enerlectra.db.models import User
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.matching import BUY
from enerlectra.domain.market.rules import from_settings
from tests.test_market import SELLER, TRADE, balances, energize, escrow_ok, sms_pin_on, sms_to
from tests.test_sms_webhooks import sms
from tests.test_wallet import Phone, fund, register
from ussd_app import appkeys

BIDDER, BIDDER2 = "+260971900011", "+260971900012"


async def bid(client, msisdn: str, wh: int, price: int) -> None:
    """A standing bid (the book's own placing: no offers to buy from, so the whole bid stays open)."""
    async with client.app[appkeys.DB]() as s, s.begin():
        me = await s.scalar(select(User).where(User.msisdn == msisdn))
        placed = await book.place(s, f"test-bid:{msisdn}:{price}", me, BUY, wh, price,
                                  from_settings(client.app[appkeys.SETTINGS]), texts.messages(), keep_rest=True,
                                  expires_at=datetime.now(timezone.utc) + timedelta(days=7))
    assert placed.order.state == "open" and not placed.trades


# (case, bids as (bidder, Wh, price), kWh sold, price typed, what the confirm says (USSD and SMS word it alike),
#  the done screen, the seller's SMS after)
CASES = [
    ("full fill", [(BIDDER, 1_000, 130)], "1", "1.20",
     ("Sell 1.0 kWh", "1.0 kWh now to bids, the rest listed at K1.20/kWh", "You get K1.30"),
     "Sold 1.0 kWh at K1.30/kWh for K1.30. It is in your wallet.",
     ["you sold 1.0 kWh at K1.30/kWh for K1.30. It is in your wallet. Ref T1."]),
    ("two bids, two prices", [(BIDDER, 1_000, 140), (BIDDER2, 1_000, 130)], "2", "1.20",
     ("Sell 2.0 kWh", "2.0 kWh now to bids, the rest listed at K1.20/kWh", "You get K2.70"),
     "Sold 2.0 kWh at K1.30-K1.40/kWh for K2.70. It is in your wallet.",
     ["you sold 2.0 kWh at K1.30-K1.40/kWh for K2.70. It is in your wallet. Ref T1."]),
    ("partial fill", [(BIDDER, 1_000, 130)], "1.5", "1.20",
     ("Sell 1.5 kWh", "1.0 kWh now to bids, the rest listed at K1.20/kWh", "You get K1.90"),
     "Sold 1.0 kWh at K1.30/kWh for K1.30. 0.5 kWh listed at K1.20/kWh.",
     ["you sold 1.0 kWh at K1.30/kWh for K1.30. It is in your wallet. Ref T1.",
      "your offer of 0.5 kWh at K1.20/kWh is listed."]),
    ("no fill: the bid is below the price", [(BIDDER, 1_000, 130)], "1", "1.40",
     ("Sell 1.0 kWh at K1.40/kWh", "You get K1.40 when it sells"),
     "Listed: 1.0 kWh at K1.40/kWh.",
     ["your offer of 1.0 kWh at K1.40/kWh is listed."]),
]


@pytest.fixture
async def bidders(client):
    seller = await register(client, SELLER, "Bwalya")
    await energize(client, SELLER, 10_000)
    for n, name in ((BIDDER, "Mutale"), (BIDDER2, "Chanda")):
        await register(client, n, name)
        await fund(client, n, "100")
    return seller


async def _place_bids(client, bids) -> None:
    for who, wh, price in bids:
        await bid(client, who, wh, price)


@pytest.mark.parametrize("case, bids, kwh, price, confirm, done, told", CASES, ids=[c[0] for c in CASES])
async def test_selling_by_ussd_says_what_sold_and_what_is_listed(client, bidders, case, bids, kwh, price, confirm,
                                                                 done, told):
    await _place_bids(client, bids)
    before = len(await sms_to(client, SELLER))
    phone = bidders
    await phone.dial()
    said = await phone.press(TRADE, "1", kwh, price, "3")
    assert all(part in said for part in confirm), said
    screen = await phone.press("4826")
    assert screen.startswith(f"END {done}"), screen
    after = (await sms_to(client, SELLER))[before:]
    assert len(after) == len(told), after
    assert all(want in got for want, got in zip(told, after)), after
    await escrow_ok(client)


async def _say(client, msisdn: str, text: str) -> str:
    _say.n = getattr(_say, "n", 0) + 1
    resp = await client.post("/sms/africastalking/inbound", data=sms(text, sender=msisdn, provider_id=f"r{_say.n}"))
    assert resp.status == 200
    return (await sms_to(client, msisdn))[-1]


@pytest.mark.parametrize("case, bids, kwh, price, confirm, done, told", CASES, ids=[c[0] for c in CASES])
async def test_selling_by_sms_says_what_sold_and_what_is_listed(client, bidders, case, bids, kwh, price, confirm,
                                                                done, told):
    await sms_pin_on(bidders)
    await _place_bids(client, bids)
    said = await _say(client, SELLER, f"SELL {kwh} {price}")
    assert all(part in said for part in confirm), said
    before = len(await sms_to(client, SELLER))
    await _say(client, SELLER, "YES 4826")
    after = (await sms_to(client, SELLER))[before:]
    assert len(after) == len(told), after            # the receipt and, only for a rest, the listing: no more
    assert all(want in got for want, got in zip(told, after)), after
    await escrow_ok(client)


async def test_each_bidder_hears_of_their_own_fill_and_the_seller_once(client, bidders):
    await _place_bids(client, [(BIDDER, 1_000, 140), (BIDDER2, 1_000, 130)])
    phone = bidders
    await phone.dial()
    await phone.press(TRADE, "1", "2", "1.20", "3", "4826")
    assert [b for b in await sms_to(client, BIDDER) if "you bought" in b] == [
        "Enerlectra: you bought 1.0 kWh for K1.40, fee K0.01. The kWh are in your account. Ref T1."]
    assert [b for b in await sms_to(client, BIDDER2) if "you bought" in b] == [
        "Enerlectra: you bought 1.0 kWh for K1.30, fee K0.01. The kWh are in your account. Ref T2."]
    assert len([b for b in await sms_to(client, SELLER) if "you sold" in b]) == 1
    assert await balances(client, SELLER) == (270, 8_000)


# (country, seller, bidder, the top price typed, money to fund the bid)
WIDEST = [("ZM", SELLER, BIDDER, "50", "6000000"), ("TZ", "+255712900001", "+255712900002", "2000", "250000000")]


@pytest.mark.parametrize("with_bid", [True, False], ids=["into a bid", "listed"])
@pytest.mark.parametrize("country, seller, bidder, price, funds", WIDEST, ids=[w[0] for w in WIDEST])
@pytest.mark.parametrize("language", ["1", "2", "3", "4"])
async def test_the_widest_sale_fits_one_screen_in_every_language(client, language, country, seller, bidder, price,
                                                                 funds, with_bid):
    """The longest numbers the market takes (99,999.9 kWh, the top price), the confirm and the done screen:
    one page each (an input screen that pages would read 98 as the PIN)."""
    phone = Phone(client, seller)
    await phone.dial()
    await phone.press(language, "Mwansa Chilufya Bwal", "4826", "4826")
    await energize(client, seller, 99_999_900)
    if with_bid:
        await register(client, bidder, "Mutale")
        await fund(client, bidder, funds)
        await bid(client, bidder, 99_999_800, int(price) * 100)
    await phone.dial()
    confirm = await phone.press(TRADE, "1", "99999.9", price, "3")
    assert "99,999.9 kWh" in confirm and "98 " not in confirm, confirm
    done = await phone.press("4826")
    assert done.startswith("END ") and "99,999." in done and "98 " not in done, done
