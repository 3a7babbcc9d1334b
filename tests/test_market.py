"""The energy market through the real app: USSD sell / buy / cancel / market / alerts, SMS keywords,
escrow in the ledger, expiry, and every bad input saying what to type with nothing moved."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import JournalEntry, MarketOrder, PriceAlert, SmsOutbox, Trade, User
from enerlectra.domain import ledger, wallet
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.rules import from_settings
from enerlectra.domain.money import parse_amount
from tests.helpers import committed_only
from tests.jobs import run_jobs
from tests.test_sms_webhooks import sms
from tests.test_wallet import Phone, fund, register
from ussd_app import appkeys

SELLER, SELLER2, BUYER = "+260971900001", "+260971900002", "+260971900003"
TRADE = "5"                       # the main menu's Trade energy


async def energize(client, msisdn: str, wh: int) -> None:
    db = client.app[appkeys.DB]
    user = await wallet.find_user(db, msisdn)
    await wallet.credit(db, f"test:energy:{msisdn}:{wh}", user, ledger.ENERGY, wh, "test")


async def balances(client, msisdn: str) -> tuple[int, int]:
    db = client.app[appkeys.DB]
    user = await wallet.find_user(db, msisdn)
    async with db() as s:
        bal = await wallet.balances(s, user.id, user.currency)
    return bal.money, bal.energy


async def sell(phone: Phone, kwh: str, price: str, expiry: str = "3") -> str:
    await phone.dial()
    await phone.press(TRADE, "1", kwh, price, expiry)
    return await phone.press("4826")


async def escrow_ok(client) -> None:
    async with client.app[appkeys.DB]() as s:
        assert await book.check_escrow(s) == []
        assert await ledger.verify(s) == []


async def sms_to(client, msisdn: str) -> list[str]:
    async with client.app[appkeys.DB]() as s:
        return list((await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == msisdn)
                                     .order_by(SmsOutbox.id))).all())


@pytest.fixture
async def market(client):
    """Two sellers with energy, a buyer with money."""
    phones = {n: await register(client, n, name) for n, name in
              ((SELLER, "Bwalya"), (SELLER2, "Chanda"), (BUYER, "Mutale"))}
    for n in (SELLER, SELLER2):
        await energize(client, n, 10_000)
    await fund(client, BUYER, "100")
    return phones


async def test_sell_escrows_the_kwh_at_once_and_confirms_by_sms(client, market):
    done = await sell(market[SELLER], "2.5", "1.20")
    assert done.startswith("END Listed: 2.5 kWh at K1.20/kWh. Ref O")
    assert await balances(client, SELLER) == (0, 7_500)                    # 2.5 kWh held in escrow
    assert any("your offer of 2.5 kWh at K1.20/kWh is listed" in b for b in await sms_to(client, SELLER))
    await escrow_ok(client)


async def test_buy_fills_across_two_offers_and_leaves_a_standing_bid(client, market):
    await sell(market[SELLER], "1", "1.30")
    await sell(market[SELLER2], "1", "1.10")                                # cheaper, later: sold first
    phone = market[BUYER]
    await phone.dial()
    await phone.press(TRADE, "2")
    quote = await phone.press("3")
    assert "Only 2.0 kWh for sale, K2.42 incl. fee." in quote                # 1.10 + 1.30 = 2.40, fee 1%
    assert "2 Buy it, bid K1.30/kWh for the rest" in quote
    await phone.press("2")                                                    # and bid for the rest
    done = await phone.press("4826")
    assert "Bought 2.0 kWh for K2.42 incl. fee." in done
    assert "Your bid for 1.0 kWh at K1.30/kWh stays open 7 days." in done
    assert await balances(client, BUYER) == (10_000 - 242 - 131, 2_000)      # the bid holds 1.30 + fee
    assert await balances(client, SELLER2) == (110, 9_000)
    assert await balances(client, SELLER) == (130, 9_000)
    await escrow_ok(client)

    # A new offer below the bid's price fills it at the bid's price (the resting order sets the price).
    done = await sell(market[SELLER2], "1.5", "1.20")
    assert "Sold 1.0 kWh at K1.30/kWh for K1.30. 0.5 kWh listed at K1.20/kWh." in done
    assert await balances(client, BUYER) == (10_000 - 242 - 131, 3_000)
    assert await balances(client, SELLER2) == (110 + 130, 7_500)
    bought = [b for b in await sms_to(client, BUYER) if "you bought" in b]
    assert bought == ["Enerlectra: you bought 2.0 kWh for K2.40, fee K0.02. The kWh are in your account. Ref T1.",
                      "Enerlectra: you bought 1.0 kWh for K1.30, fee K0.01. The kWh are in your account. Ref T3."]
    await escrow_ok(client)


async def test_buy_everything_with_the_quote(client, market):
    await sell(market[SELLER], "2", "1.50")
    phone = market[BUYER]
    await phone.dial()
    await phone.press(TRADE, "2")
    assert "2.0 kWh for K3.03 incl. fee K0.03. Enter your PIN to buy:" in await phone.press("2")
    assert "END Bought 2.0 kWh for K3.03 incl. fee." in await phone.press("4826")
    async with client.app[appkeys.DB]() as s:
        [trade] = (await s.scalars(select(Trade))).all()
        entry = await s.get(JournalEntry, trade.entry_id)
    assert (trade.wh, trade.price, trade.money, trade.fee, entry.kind) == (2_000, 150, 300, 3, "trade")
    seller_sms = [b for b in await sms_to(client, SELLER) if "you sold" in b]
    assert seller_sms == [f"Enerlectra: you sold 2.0 kWh at K1.50/kWh for K3.00. It is in your wallet. "
                          f"Ref T{trade.id}."]


async def test_cancel_returns_the_escrow(client, market):
    await sell(market[SELLER], "4", "2.00")
    phone = market[SELLER]
    await phone.dial()
    listing = await phone.press(TRADE, "3")
    assert "1 Sell 4.0 kWh @ K2.00" in listing
    assert "Cancel: Sell 4.0 kWh @ K2.00?" in await phone.press("1")
    after = await phone.press("1")
    assert "Cancelled. 4.0 kWh back to you." in after and "You have no open offers or bids." in after
    assert await balances(client, SELLER) == (0, 10_000)
    await escrow_ok(client)


async def test_market_screen_and_price_sms(client, market):
    await sell(market[SELLER], "1", "1.40")
    await sell(market[SELLER2], "2", "1.20")
    phone = market[BUYER]
    await phone.dial()
    await phone.press(TRADE, "2", "0.5", "4826")                          # one trade: last price K1.20
    await phone.dial()
    screen = await phone.press(TRADE, "4")
    assert "Offers: 1.5 kWh @ K1.20, 1.0 kWh @ K1.40." in screen
    assert "Last K1.20. 24h: 0.5 kWh, K1.20-K1.20" in screen
    await client.post("/sms/africastalking/inbound", data=sms("price", sender=BUYER))
    assert (await sms_to(client, BUYER))[-1].startswith("Enerlectra market, price per kWh. Offers: 1.5 kWh @ K1.20")


async def test_price_alert_fires_once_when_an_offer_is_listed_below_it(client, market):
    phone = market[BUYER]
    await phone.dial()
    await phone.press(TRADE, "5")
    assert "END Alert set: one SMS when kWh is offered below K1.10/kWh." in await phone.press("1.10")
    await client.post("/sms/africastalking/inbound", data=sms("ALERT 1.00", sender=BUYER))
    await sell(market[SELLER], "1", "1.20")                                  # not below: nothing
    await sell(market[SELLER2], "1", "1.00")                                 # below 1.10, not below 1.00
    await sell(market[SELLER], "1", "0.90")                                  # below 1.00; 1.10 is spent
    alerts = [b for b in await sms_to(client, BUYER) if "is now offered" in b]
    assert alerts == ["Enerlectra: kWh is now offered at K1.00/kWh, below your alert of K1.10/kWh. Dial *123# to buy.",
                      "Enerlectra: kWh is now offered at K0.90/kWh, below your alert of K1.00/kWh. Dial *123# to buy."]
    async with client.app[appkeys.DB]() as s:
        assert set((await s.scalars(select(PriceAlert.state))).all()) == {"spent"}


async def test_offers_expire_on_time_and_the_seller_is_told(client, settings, market):
    await sell(market[SELLER], "2", "1.50", expiry="1")                       # until tonight
    async with committed_only(client.app[appkeys.DB]) as s:
        items = await book.expire_due(s, "ZMW", texts.messages(), at=datetime.now(timezone.utc))
    assert items == 0                                                         # not yet
    later = datetime.now(timezone.utc) + timedelta(days=1, hours=1)
    async with committed_only(client.app[appkeys.DB]) as s:
        items = await book.expire_due(s, "ZMW", texts.messages(), at=later)
    async with committed_only(client.app[appkeys.DB]) as s:
        assert await book.expire_due(s, "ZMW", texts.messages(), at=later) == 0      # twice: once
    assert items == 1
    assert await balances(client, SELLER) == (0, 10_000)
    assert "your offer of 2.0 kWh at K1.50/kWh expired unsold" in (await sms_to(client, SELLER))[-1]
    await escrow_ok(client)


async def test_the_expiry_job_runs_in_the_worker(client, settings, market):
    from enerlectra.jobs import EXPIRE_JOB, MONEY, make_queue

    await sell(market[SELLER], "2", "1.50")
    async with committed_only(client.app[appkeys.DB]) as s:                      # its time has come
        order = (await s.scalars(select(MarketOrder))).one()
        order.expires_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    queue = make_queue(settings.redis_url, settings.queue_name, MONEY)
    queue.enqueue(EXPIRE_JOB)
    queue.connection.close()
    await run_jobs(settings)
    async with client.app[appkeys.DB]() as s:
        assert (await s.scalars(select(MarketOrder.state))).one() == "expired"
    assert await balances(client, SELLER) == (0, 10_000)


async def test_a_repeated_hop_places_one_order(client, settings, market):
    async with committed_only(client.app[appkeys.DB]) as s:
        me = await s.scalar(select(User).where(User.msisdn == SELLER))
        first = await book.place(s, "k1", me, "sell", 1_000, 120, from_settings(settings), texts.messages())
        again = await book.place(s, "k1", me, "sell", 1_000, 120, from_settings(settings), texts.messages())
    assert (first.created, again.created, again.order.id) == (True, False, first.order.id)
    assert await balances(client, SELLER) == (0, 9_000)


# -- bad input: a screen that says what to type, and nothing moves -------------------------------

@dataclass
class Bad:
    label: str
    keys: tuple[str, ...]
    shown: str
    expect: str = "CON"


BAD = [
    Bad("zero kWh", (TRADE, "1", "0.0"), "Type kWh, like 2 or 2.5."),   # "0" alone is Back
    Bad("finer than a lot", (TRADE, "1", "0.05"), "Type kWh in steps of 0.1 kWh"),
    Bad("finer than a Wh", (TRADE, "1", "0.0005"), "Type kWh in steps of 0.1 kWh"),
    Bad("letters", (TRADE, "1", "lots"), "Type kWh, like 2 or 2.5."),
    Bad("more than owned", (TRADE, "1", "20"), "You have only 10.0 kWh. Type a smaller amount."),
    Bad("price off the tick", (TRADE, "1", "1", "1.15"), "Prices go in steps of K0.10."),
    Bad("price too high", (TRADE, "1", "1", "60"), "Type a price from K0.10 to K50.00 per kWh."),
    Bad("price not a number", (TRADE, "1", "1", "cheap"), "Type a price per kWh, like 1.20."),
    Bad("expiry not offered", (TRADE, "1", "1", "1.20", "9"), "Type 1, 2 or 3."),
    Bad("wrong PIN", (TRADE, "1", "1", "1.20", "2", "1111"), "Wrong PIN. 2 tries left."),
    Bad("buy with no offers but your own", (TRADE, "2", "1"), "The only offers now are yours"),
]


@pytest.mark.parametrize("case", BAD, ids=[c.label for c in BAD])
async def test_bad_sell_input_says_what_to_do_and_moves_nothing(client, case):
    phone = await register(client, SELLER, "Bwalya")
    await energize(client, SELLER, 10_000)
    if case.label.startswith("buy"):
        await sell(phone, "1", "1.20")
    async with client.app[appkeys.DB]() as s:
        entries = await s.scalar(select(func.count()).select_from(JournalEntry))
    await phone.dial()
    reply = await phone.press(*case.keys)
    assert reply.startswith(case.expect) and case.shown in reply, reply
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(JournalEntry)) == entries


@pytest.mark.parametrize("money, shown", [
    ("0.50", "Not enough money: K1.21 needed, your balance is K0.50. Type fewer kWh."),
    (None, "No kWh for sale now."),
])
async def test_buy_refusals(client, market, money, shown):
    if money:
        await sell(market[SELLER], "1", "1.20")
    phone = Phone(client, "+260971900009")
    await phone.dial()
    await phone.press("1", "Zyambo", "4826", "4826")
    if money:
        await fund(client, phone.msisdn, money)
    await phone.dial()
    await phone.press(TRADE, "2")
    reply = await phone.press("1")
    assert shown in reply
    assert reply.startswith("END" if money is None else "CON")


@pytest.mark.parametrize("text, reply", [
    ("SELL 5 1.20", "Buying and selling by SMS needs your PIN by SMS, which is off."),
    ("NUNUA 3", "Buying and selling by SMS needs your PIN by SMS, which is off."),
    ("ALERT", "send ALERT and a price per kWh"),
    ("ALERT cheap", "send ALERT and a price per kWh"),
    ("ALERT 1.10", "Alert set: one SMS when kWh is offered below K1.10/kWh."),
    ("PRICE", "Enerlectra market, price per kWh. No offers now. Last -."),
])
async def test_market_keywords(client, text, reply):
    await register(client, BUYER, "Mutale")
    await client.post("/sms/africastalking/inbound", data=sms(text, sender=BUYER))
    assert reply in (await sms_to(client, BUYER))[-1]


def test_amounts_and_prices_parse_without_floats():
    from enerlectra.domain.market.rules import parse_kwh

    assert [parse_kwh(t) for t in ("2", "2.5", "0,3", "1.25kWh", " 10 ")] == [2000, 2500, 300, 1250, 10000]
    assert parse_amount("1.20", "ZMW") == 120


async def sms_pin_on(phone: Phone) -> str:
    await phone.dial()
    await phone.press("3", "4")
    await phone.press("1")
    return await phone.press("4826")


async def test_sell_and_buy_by_sms_with_yes_and_pin(client, market):
    async def say(msisdn: str, text: str, n: list[int] = [0]) -> str:   # noqa: B006  a counter for ids
        n[0] += 1
        await client.post("/sms/africastalking/inbound", data=sms(text, sender=msisdn, provider_id=f"t{n[0]}"))
        return (await sms_to(client, msisdn))[-1]

    assert "needs your PIN by SMS, which is off" in await say(SELLER, "SELL 2 1.20")
    assert "Trade by SMS is on." in await sms_pin_on(market[SELLER])
    assert await say(SELLER, "YES 4826") == "Nothing to confirm. Send SELL or BUY first."
    assert "To sell by SMS send SELL" in await say(SELLER, "SELL 2")
    assert "Prices go in steps of K0.10." in await say(SELLER, "SELL 2 1.25")
    assert "You have only 10.0 kWh." in await say(SELLER, "SELL 20 1.20")
    assert await say(SELLER, "sell 2 1.20") == ("Sell 2.0 kWh at K1.20/kWh for 7 days? You get K2.40 when it sells. "
                                                "Reply YES and your PIN, like YES 1234, within 10 minutes.")
    assert await say(SELLER, "YES 1111") == "Wrong PIN. 2 tries left."
    assert (await say(SELLER, "YES 4826")).startswith("Enerlectra: your offer of 2.0 kWh at K1.20/kWh is listed.")
    assert await say(SELLER, "YES 4826") == "Nothing to confirm. Send SELL or BUY first."   # placed once
    assert await balances(client, SELLER) == (0, 8_000)

    await sms_pin_on(market[BUYER])
    assert await say(BUYER, "BUY 3") == ("Only 2.0 kWh for sale: K2.42 incl. fee. Reply YES and your PIN to buy it, "
                                         "within 10 minutes.")
    assert await say(BUYER, "NDIYO 4826") == ("Enerlectra: you bought 2.0 kWh for K2.40, fee K0.02. The kWh are in "
                                              "your account. Ref T1.")       # YES in Swahili works too
    assert await balances(client, BUYER) == (10_000 - 242, 2_000)
    assert "you sold 2.0 kWh" in (await sms_to(client, SELLER))[-1]
    assert "No kWh for sale now." in await say(BUYER, "BUY 1")
    await escrow_ok(client)


async def test_the_three_prices_of_a_trade_screen_agree_with_the_market_snapshot(client, market):
    """data.prices (one query, issue 18) says what data.snapshot says, on an empty book and on a busy one."""
    from enerlectra.domain.market import data

    async def both():
        async with client.app[appkeys.DB_READ]() as s:
            snap, now = await data.snapshot(s, "ZMW"), await data.prices(s, "ZMW")
        return (snap.best_offers[0][0] if snap.best_offers else None, snap.best_bid, snap.last_price), \
            (now.best_offer, now.best_bid, now.last_price)

    empty, none = await both()
    assert empty == none == (None, None, None)
    await sell(market[SELLER], "1", "1.40")
    await sell(market[SELLER2], "2", "1.20")
    phone = market[BUYER]
    await phone.dial()
    await phone.press(TRADE, "2", "4", "2", "4826")                 # buys 3 kWh, a standing bid for the rest
    await sell(market[SELLER], "1", "1.50")                         # above the bid: stays on the book
    snap, now = await both()
    assert snap == now and None not in now, (snap, now)       # an offer left, a bid, a last price
    screen = (await phone.dial(), await phone.press(TRADE))[1]
    assert f"last K{now[2] / 100:.2f}" in screen, screen
