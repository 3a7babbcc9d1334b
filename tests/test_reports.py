"""The console's report queries (enerlectra/reports): seeded rows at the edges of the periods give exactly the
figures seeded. The period: 7 days ending 2026-12-06 (Nov 30 .. Dec 6), the one before: Nov 23 .. Nov 29.
Sessions go in through the fold (workers/analytics.record), as the worker writes them."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from enerlectra.db.models import AdvisorQuestion, JournalEntry, MarketOrder, Payment, SmsOutbox, Trade, User
from enerlectra.reports.funnel import funnel
from enerlectra.reports.overview import overview
from enerlectra.reports.periods import Change, Period
from enerlectra.ussd.ends import SessionEnd
from ussd_app import appkeys
from workers.analytics import record

LAST = date(2026, 12, 6)
# Where a row sits: the edges of each period, and just outside both.
AT = {"now_first": datetime(2026, 11, 30, tzinfo=timezone.utc),
      "now_last": datetime(2026, 12, 6, 23, 59, 59, tzinfo=timezone.utc),
      "before_first": datetime(2026, 11, 23, tzinfo=timezone.utc),
      "before_last": datetime(2026, 11, 29, 23, 59, 59, tzinfo=timezone.utc),
      "after": datetime(2026, 12, 7, tzinfo=timezone.utc),
      "too_early": datetime(2026, 11, 22, 23, 59, 59, tzinfo=timezone.utc)}

# (when, user (index into USERS or None), reason, hops, language, country, screens)
SESSIONS = [
    ("now_first", 0, "done", 4, "en", "ZM", ["main_menu", "wallet_menu", "wallet_history"]),
    ("now_first", 0, "hangup", 2, "en", "ZM", ["main_menu", "wallet_menu"]),
    ("now_last", 1, "timeout", 3, "bem", "ZM", ["main_menu", "trade_menu", "trade_sellkwh"]),
    ("now_last", None, "error", 1, "sw", "TZ", ["onboarding_language"]),
    ("before_first", 0, "done", 5, "en", "ZM", ["main_menu", "wallet_menu", "wallet_history"]),
    ("before_last", 2, "done", 2, "sw", "TZ", ["main_menu", "trade_menu"]),
    ("after", 3, "done", 9, "en", "ZM", ["main_menu", "wallet_menu"]),
    ("too_early", 4, "hangup", 9, "en", "ZM", ["main_menu"]),
]
USER_CREATED = ["now_first", "now_last", "before_first", "before_last", "after", "too_early"]


def _end(n: int, when: str, user: int | None, reason: str, hops: int, language: str, country: str,
         screens: list[str], users: list[int]) -> SessionEnd:
    return SessionEnd.of(session_id=f"r{n}", aggregator="africastalking", msisdn=f"+26097100000{n}",
                         user_id=None if user is None else users[user], country=country, language=language,
                         screens=screens, last_screen=screens[-1], reason=reason, hops=hops,
                         ended_at=AT[when].timestamp())


@pytest.fixture
async def seeded(client):
    db = client.app[appkeys.DB]
    async with db() as s, s.begin():
        users = [User(msisdn=f"+2609719000{n:02d}", country="ZM", currency="ZMW", language="en", name=f"U{n}",
                      pin_hash="x", created_at=AT[when]) for n, when in enumerate(USER_CREATED)]
        s.add_all(users)
        await s.flush()
        ids = [u.id for u in users]
        s.add_all(_sms() + _payments(ids[0]) + _advisor(ids[0]))
        await _market(s, ids)
    await record(db, [_end(n, *row, users=ids) for n, row in enumerate(SESSIONS)])
    return db


def _sms() -> list[SmsOutbox]:
    rows = [("now_first", "sent", 2, "ZMW 0.3000"), ("now_last", "failed", 1, "0"), ("now_last", "queued", 1, None),
            ("before_last", "delivered", 1, "ZMW 0.1000"), ("before_first", "sent", 3, "TZS 20.0000"),
            ("after", "sent", 5, "ZMW 9.0000"), ("too_early", "sent", 5, "ZMW 9.0000")]
    return [SmsOutbox(msisdn="+260971000001", body="hi", kind="reply", status=status, encoding="GSM-7",
                      segments=segments, cost=cost, created_at=AT[when]) for when, status, segments, cost in rows]


def _payments(user_id: int) -> list[Payment]:
    rows = [("now_first", "mtn", "collection", "succeeded", 5000), ("now_last", "airtel", "payout", "succeeded", 2000),
            ("now_first", "mtn", "collection", "failed", 999), ("before_first", "mtn", "collection", "succeeded", 700),
            ("too_early", "mtn", "collection", "succeeded", 111), ("after", "mtn", "collection", "succeeded", 222)]
    return [Payment(reference=f"p{n}", provider=provider, direction=direction, user_id=user_id,
                    msisdn="+260961000001", currency="ZMW", amount=amount, state=state, created_at=AT[when])
            for n, (when, provider, direction, state, amount) in enumerate(rows)]


def _advisor(user_id: int) -> list[AdvisorQuestion]:
    rows = [("now_first", 1200), ("before_last", 800), ("after", 5000)]
    return [AdvisorQuestion(request_key=f"q{n}", user_id=user_id, topic="energy", source="ussd", language="en",
                            question="?", status="answered", cost_micro_usd=cost, created_at=AT[when])
            for n, (when, cost) in enumerate(rows)]


async def _market(s, ids: list[int]) -> None:
    # (side, state, created, closed): open now = 1 offer + 1 bid; open at Nov 30 00:00 = 2 offers, 0 bids
    rows = [("sell", "open", "before_first", None), ("buy", "open", "now_first", None),
            ("sell", "filled", "before_first", "now_last"), ("buy", "cancelled", "too_early", "before_last")]
    orders = [MarketOrder(request_key=f"o{n}", currency="ZMW", user_id=ids[0], side=side, price=1000, wh=1000,
                          remaining_wh=0, state=state, created_at=AT[created], closed_at=AT[closed] if closed else None)
              for n, (side, state, created, closed) in enumerate(rows)]
    entry = JournalEntry(lane=1, seq=1, idempotency_key="bench", kind="trade", prev_mac="0" * 64, mac="0" * 64)
    s.add_all(orders + [entry])
    await s.flush()
    trades = [("now_first", 2000, 3000), ("now_last", 1000, 2000), ("before_last", 500, 500), ("after", 7000, 1)]
    s.add_all([Trade(currency="ZMW", buy_order_id=orders[1].id, sell_order_id=orders[0].id, buyer_id=ids[0],
                     seller_id=ids[1], price=1000, wh=wh, money=money, fee=0, entry_id=entry.id, created_at=AT[when])
               for when, wh, money in trades])


async def test_the_overview_counts_exactly_what_was_seeded(seeded):
    got = await overview(seeded, 7, LAST)
    assert (got.period, got.previous) == (Period(date(2026, 11, 30), LAST), Period(date(2026, 11, 23),
                                                                                     date(2026, 11, 29)))
    assert got.active_users == Change(2, 2)              # user 0 twice and user 1 / users 0 and 2
    assert got.new_users == Change(2, 2)
    assert (got.sessions, got.hops) == (Change(4, 2), Change(10, 7))
    assert got.completion_rate == Change(0.25, 1.0)
    assert (got.sms_sent, got.sms_failed, got.sms_segments) == (Change(1, 2), Change(1, 0), Change(2, 4))
    assert got.sms_cost == {"ZMW": Change(3000, 1000), "TZS": Change(0, 200000)}
    assert [(m.provider, m.direction, m.amount, m.count) for m in got.money] == [
        ("mtn", "in", Change(5000, 700), Change(1, 1)), ("airtel", "out", Change(2000, 0), Change(1, 0))]
    [traded] = got.traded
    assert (traded.currency, traded.wh, traded.average_price) == ("ZMW", Change(3000, 500), Change(1667, 1000))
    assert (got.open_offers, got.open_bids) == (Change(1, 2), Change(1, 0))
    assert (got.advisor_questions, got.advisor_cost_micro_usd) == (Change(1, 1), Change(1200, 800))
    assert got.carbon_avoided_kg is None
    assert [d.day for d in got.series] == [date(2026, 11, 30) + timedelta(days=n) for n in range(7)]
    first, last = got.series[0], got.series[-1]
    assert (first.sessions, first.active_users, first.wh_traded, first.money_in, first.money_out) == (
        2, 1, 2000, {"ZMW": 5000}, {})
    assert (last.sessions, last.active_users, last.wh_traded, last.money_in, last.money_out) == (
        2, 1, 1000, {}, {"ZMW": 2000})
    assert all(d.sessions == d.active_users == d.wh_traded == 0 for d in got.series[1:-1])


async def test_the_carbon_hook_fills_its_field(seeded):
    async def carbon(db, period: Period) -> int:
        return period.days * (10 if period.last == LAST else 1)
    assert (await overview(seeded, 7, LAST, carbon=carbon)).carbon_avoided_kg == Change(70, 7)


# (language, country, {screen: (reached, done, error, hangup, timeout)}, {language: sessions}, {country: sessions})
FUNNELS = [
    (None, None, {"main_menu": (3, 0, 0, 0, 0), "wallet_menu": (2, 0, 0, 1, 0), "wallet_history": (1, 1, 0, 0, 0),
                  "trade_menu": (1, 0, 0, 0, 0), "trade_sellkwh": (1, 0, 0, 0, 1),
                  "onboarding_language": (1, 0, 1, 0, 0)},
     {"en": 2, "bem": 1, "sw": 1}, {"ZM": 3, "TZ": 1}),
    ("en", None, {"main_menu": (2, 0, 0, 0, 0), "wallet_menu": (2, 0, 0, 1, 0), "wallet_history": (1, 1, 0, 0, 0)},
     {"en": 2}, {"ZM": 2}),
    (None, "TZ", {"onboarding_language": (1, 0, 1, 0, 0)}, {"sw": 1}, {"TZ": 1}),
    ("sw", "ZM", {}, {}, {}),
]


@pytest.mark.parametrize("language,country,screens,languages,countries", FUNNELS,
                         ids=[f"{f[0]}-{f[1]}" for f in FUNNELS])
async def test_the_funnel_counts_exactly_what_was_seeded(seeded, language, country, screens, languages, countries):
    got = await funnel(seeded, Period.ending(7, LAST), language, country)
    found = {step.screen: (step.reached, step.ended.done, step.ended.error, step.ended.hangup, step.ended.timeout)
             for journey in got.journeys for step in journey.screens}
    assert found == screens
    assert {j.journey for j in got.journeys} == {screen.partition("_")[0] for screen in screens}
    assert {seg.key: seg.sessions for seg in got.by_language} == languages
    assert {seg.key: seg.sessions for seg in got.by_country} == countries


async def test_funnel_rates(seeded):
    got = await funnel(seeded, Period.ending(7, LAST))
    wallet = next(j for j in got.journeys if j.journey == "wallet")
    assert (wallet.reached, [s.screen for s in wallet.screens]) == (2, ["wallet_menu", "wallet_history"])
    menu = wallet.screens[0]
    assert (menu.ended.drop_rate, menu.ended.rate("hangup"), menu.ended.rate("done")) == (0.5, 0.5, 0.0)
    en = next(seg for seg in got.by_language if seg.key == "en")
    assert (en.sessions, en.hops, en.completion_rate, en.ended.drop_rate) == (2, 6, 0.5, 0.5)


@pytest.mark.parametrize("days,last,first", [(1, LAST, LAST), (7, LAST, date(2026, 11, 30)),
                                             (30, date(2026, 3, 1), date(2026, 1, 31))])
def test_periods(days, last, first):
    period = Period.ending(days, last)
    assert (period.first, period.last, period.days) == (first, last, days)
    assert period.before().last == first - timedelta(days=1) and period.before().days == days
    assert period.end - period.start == timedelta(days=days)


def test_a_period_has_a_day():
    with pytest.raises(ValueError):
        Period.ending(0, LAST)


@pytest.mark.parametrize("now,before,percent", [(5, 4, 25.0), (3, 0, None), (0, 2, -100.0)])
def test_change(now, before, percent):
    assert Change(now, before).percent == percent
