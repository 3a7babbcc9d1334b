"""History lines say what each entry was, from its kind, never from its sign (issue 16, item 2).

A table of entry kinds -> label, in every language, within the screen budget; and a user who traded, bid,
sent, contributed to a cluster and had a meter credit reads each of them in the USSD history."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from enerlectra import i18n
from enerlectra.db.models import MarketOrder, User
from enerlectra.domain import meters, wallet
from enerlectra.domain.clusters import members
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.matching import BUY
from enerlectra.domain.market.rules import from_settings
from enerlectra.domain.statement import Entry
from enerlectra.text.gsm7 import is_gsm7, screen_units
from enerlectra.ussd.budget import paginate
from enerlectra.ussd.types import Nav, Screen
from menus.wallet import history
from tests.helpers import committed_only
from tests.test_market import TRADE, energize
from tests.test_trade_receipts import bid
from tests.test_wallet import fund, register
from ussd_app import appkeys

WHEN = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc)
NAME = "Mwansa Chilufya Bwal"                      # the longest name, and the longest cluster name below
CLUSTER = "Kabwata Solar Sisters Cooperative Sociey"

# (entry, the English line): money and kWh at their widest (TZS, 99,999 kWh)
KINDS = [
    (Entry(1, "trade", WHEN, money=-99_999_999_99, energy=99_999_900, currency="TZS", wh=99_999_900, side="buy"),
     "31/12 Bought 99,999.9 kWh -TSh 99,999,999.99"),
    (Entry(1, "trade", WHEN, energy=1_000, currency="ZMW", wh=1_000, side="buy"), "31/12 Bought 1.0 kWh"),
    (Entry(1, "trade", WHEN, money=120, currency="ZMW", wh=1_000, side="sell"), "31/12 Sold 1.0 kWh +K1.20"),
    (Entry(1, "offer", WHEN, energy=-2_000), "31/12 Offer listed -2.0 kWh"),
    (Entry(1, "release", WHEN, energy=1_000), "31/12 Offer back +1.0 kWh"),
    (Entry(1, "bid", WHEN, money=-101, currency="ZMW"), "31/12 Bid held -K1.01"),
    (Entry(1, "release", WHEN, money=101, currency="ZMW"), "31/12 Bid refund +K1.01"),
    (Entry(1, "transfer", WHEN, money=-500, currency="ZMW", other=NAME), "31/12 Sent to Mwansa -K5.00"),
    (Entry(1, "transfer", WHEN, money=500, currency="ZMW", other=NAME), "31/12 Received from Mwansa +K5.00"),
    (Entry(1, "contribution", WHEN, money=-1_000, currency="ZMW", other=CLUSTER), "31/12 Cluster Kabwata -K10.00"),
    (Entry(1, "meter", WHEN, energy=1_200), "31/12 Meter +1.2 kWh"),
    (Entry(1, "credit", WHEN, money=10_000, currency="ZMW"), "31/12 Credit +K100.00"),
    (Entry(1, "credit", WHEN, energy=5_000), "31/12 Credit +5.0 kWh"),
    (Entry(1, "collection", WHEN, money=5_000, currency="ZMW"), "31/12 Deposit +K50.00"),
    (Entry(1, "payout-hold", WHEN, money=-3_000, currency="ZMW"), "31/12 Withdrawal -K30.00"),
    (Entry(1, "payout-release", WHEN, money=3_000, currency="ZMW"), "31/12 Withdrawal refund +K30.00"),
]


@pytest.mark.parametrize("entry, english", KINDS, ids=[f"{e.kind}:{english[6:20]}" for e, english in KINDS])
def test_each_kind_of_entry_says_what_it_was(entry, english):
    with i18n.language("en"):
        assert history.line(entry) == english
    for code in i18n.LANGUAGES:
        with i18n.language(code):
            line = history.line(entry)
        assert is_gsm7(line), (code, line)
        assert code == "en" or entry.kind == "meter" or line != english, (code, line)   # translated
        # four such lines page within the budget, each line whole (at least three a page at the widest)
        pages = paginate(Screen([line] * 4, page_size=4), Nav.FULL)
        assert len(pages) <= 2 and all(screen_units(p.text) <= 160 for p in pages), (code, pages)
        assert sum(p.text.count(line) for p in pages) == 4, (code, pages)


def test_no_two_kinds_share_a_label():
    with i18n.language("en"):
        labels = [history.label(e) for e, _ in KINDS if not (e.kind == "trade" and e.money == 0)
                  and not (e.kind == "credit" and e.energy)]
    assert len(labels) == len(set(labels))


ME, OTHER = "+260971900021", "+260971900022"


async def _through_the_ledger(client) -> None:
    """One of each: credits, an offer partly sold then cancelled, a bid held then cancelled, a transfer each
    way, a cluster contribution and a meter credit."""
    app = client.app
    db, rules = app[appkeys.DB], from_settings(app[appkeys.SETTINGS])
    await fund(client, ME, "100")
    await energize(client, ME, 5_000)
    await fund(client, OTHER, "50")
    phone = client.phones[ME]
    await phone.dial()
    await phone.press(TRADE, "1", "2", "1.20", "3", "4826")                 # offer 2.0 kWh
    async with committed_only(db) as s:
        other = await s.scalar(select(User).where(User.msisdn == OTHER))
        await book.place(s, "test:buy", other, BUY, 1_000, 120, rules, texts.messages(), keep_rest=False)
    async with committed_only(db) as s:
        me = await s.scalar(select(User).where(User.msisdn == ME))
        offer = await s.scalar(select(MarketOrder).where(MarketOrder.user_id == me.id))
        await book.cancel(s, me, offer.id)
    await bid(client, ME, 1_000, 100)
    async with committed_only(db) as s:
        me = await s.scalar(select(User).where(User.msisdn == ME))
        held = await s.scalar(select(MarketOrder).where(MarketOrder.user_id == me.id, MarketOrder.side == BUY))
        await book.cancel(s, me, held.id)
    me, other = await wallet.find_user(db, ME), await wallet.find_user(db, OTHER)
    await wallet.transfer(db, "test:send", me, other, 500, 0)
    await wallet.transfer(db, "test:back", other, me, 200, 0)
    async with committed_only(db) as s:
        me = await s.scalar(select(User).where(User.msisdn == ME))
        await members.create(s, me, CLUSTER, "micro", "Kabwata", 1_000, True)
        await members.contribute(s, "test:give", me, 1_000)
    now = datetime.now(timezone.utc)
    async with committed_only(db) as s:
        me = await s.scalar(select(User).where(User.msisdn == ME))
        await meters.register(s, me, "MTR-HIST-1", "SECRET-12345", 0, 0, now=now - timedelta(hours=1))
        await meters.record(s, meters.Reading("MTR-HIST-1", 1_200, 0, now), "SECRET-12345",
                            meters.Limits.from_settings(app[appkeys.SETTINGS]), now=now)


async def test_the_history_screen_names_every_entry(client):
    client.phones = {ME: await register(client, ME, "Bwalya"), OTHER: await register(client, OTHER, NAME)}
    await _through_the_ledger(client)
    phone = client.phones[ME]
    await phone.dial()
    pages = [await phone.press("1", "1")]
    while "98 More" in pages[-1]:
        pages.append(await phone.press("98"))
    shown = "\n".join(pages)
    today = datetime.now(timezone.utc).strftime("%d/%m")
    for line in ("Meter +1.2 kWh", "Cluster Kabwata -K10.00", "Received from Mwansa +K2.00",
                 "Sent to Mwansa -K5.00", "Bid refund +K1.01", "Bid held -K1.01", "Offer back +1.0 kWh",
                 "Sold 1.0 kWh +K1.20", "Offer listed -2.0 kWh", "Credit +5.0 kWh", "Credit +K100.00"):
        assert f"{today} {line}" in shown, (line, shown)
    assert shown.index("Meter") < shown.index("Cluster") < shown.index("Sold") < shown.index("Credit +K100")
    assert "Deposit" not in shown and "Withdrawal" not in shown


# (direction, state, funding, the line the history screen shows, or None): a deposit or withdrawal of the
# user's not settled yet is a pending line on top; settled ones, and a cluster's payout, are not.
WAITING = [
    ("collection", "pending", None, "Deposit pending +K50.00"),
    ("payout", "submitted", None, "Withdrawal pending -K20.00"),
    ("collection", "ambiguous", None, "Deposit pending +K50.00"),
    ("collection", "succeeded", None, None),
    ("payout", "failed", None, None),
    ("payout", "pending", "cluster:KAB:money", None),
]


@pytest.mark.parametrize("direction,state,funding,line", WAITING, ids=[f"{w[0]}-{w[1]}-{w[2]}" for w in WAITING])
async def test_the_history_screen_shows_the_users_waiting_payments(client, direction, state, funding, line):
    from enerlectra.db.models import Payment
    client.phones = {ME: await register(client, ME, "Bwalya")}
    async with committed_only(client.app[appkeys.DB]) as s:
        me = await s.scalar(select(User).where(User.msisdn == ME))
        s.add(Payment(reference=f"hist-{direction}-{state}", provider="mtn", direction=direction, user_id=me.id,
                      msisdn=ME, currency="ZMW", amount=5_000 if direction == "collection" else 2_000,
                      state=state, funding=funding))
    phone = client.phones[ME]
    await phone.dial()
    shown = await phone.press("1", "1")
    today = datetime.now(timezone.utc).strftime("%d/%m")
    if line is None:
        assert "No transactions yet." in shown and "pending" not in shown
    else:
        assert f"{today} {line}" in shown, shown
