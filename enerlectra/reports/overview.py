"""The console's overview: a period of N UTC days ending today beside the N days before it, and per-day series
of the period for the charts.

Each table is read once for both periods (CASE sums over the two periods' span). Sources: user_activity
(active users), users.created_at (new users), sessions_daily (sessions, hops, completion), sms_outbox (by the
day the SMS was written; cost summed per currency from the gateway's "ZMW 0.3000" text, other shapes such as
"0" left out), payments that succeeded (by the day they were started; collection = money in, payout = money
out), trades (kWh and the average price, per currency), market_orders (open offers and bids now, and at the
period's start), advisor_questions (count and cost). Carbon avoided comes from a function another module
provides (`carbon=`), or stays None.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Awaitable, Callable

from sqlalchemy import Integer, Numeric, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.models import (AdvisorQuestion, MarketOrder, Payment, SessionsDaily, SmsOutbox, Trade,
                                  User, UserActivity)
from enerlectra.reports.periods import Change, Period, as_date, utc_day

SENT = ("sent", "delivered")
COST_DIGITS = 10_000        # SMS cost in ten-thousandths of the currency (AT gives four decimals)

# carbon(db_read, period) -> kg CO2 avoided in it (the carbon module's, when it exists)
CarbonHook = Callable[[async_sessionmaker, Period], Awaitable[int]]


@dataclass(frozen=True)
class MoneyFlow:
    provider: str
    currency: str
    direction: str          # in (collections) / out (payouts)
    amount: Change          # minor units
    count: Change


@dataclass(frozen=True)
class Traded:
    currency: str
    wh: Change
    average_price: Change   # minor units per kWh, weighted by energy (0: no trade)


@dataclass(frozen=True)
class Day:
    day: date
    sessions: int = 0
    active_users: int = 0
    wh_traded: int = 0
    money_in: dict[str, int] = field(default_factory=dict)      # currency -> minor units
    money_out: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Overview:
    period: Period
    previous: Period
    active_users: Change
    new_users: Change
    sessions: Change
    hops: Change
    completion_rate: Change          # done / sessions, 0..1
    sms_sent: Change
    sms_failed: Change
    sms_segments: Change
    sms_cost: dict[str, Change]      # currency -> ten-thousandths (COST_DIGITS)
    money: list[MoneyFlow]
    traded: list[Traded]
    open_offers: Change              # now, and at the period's start
    open_bids: Change
    advisor_questions: Change
    advisor_cost_micro_usd: Change
    series: list[Day]
    carbon_avoided_kg: Change | None = None


async def overview(db: async_sessionmaker, days: int, last: date | None = None,
                   carbon: CarbonHook | None = None) -> Overview:
    """`days` days ending `last` (today, UTC) against the `days` before."""
    period = Period.ending(days, last)
    previous = period.before()
    async with db() as s:
        users = await _users(s, period, previous)
        sessions = await _sessions(s, period, previous)
        sms = await _sms(s, period, previous)
        offers, bids = await _open_orders(s, period)
        advisor = await _advisor(s, period, previous)
        result = Overview(
            period=period, previous=previous, **users, **sessions, **sms, money=await _money(s, period, previous),
            traded=await _traded(s, period, previous), open_offers=offers, open_bids=bids, **advisor,
            series=await _series(s, period))
    if carbon is not None:
        result = replace(result, carbon_avoided_kg=Change(await carbon(db, period), await carbon(db, previous)))
    return result


def _both(column, period: Period, previous: Period, value=1):
    """(this period's sum, the previous one's) for rows already limited to [previous.start, period.end)."""
    return (func.coalesce(func.sum(case((column >= period.start, value), else_=0)), 0),
            func.coalesce(func.sum(case((column < period.start, value), else_=0)), 0))


def _span(column, period: Period, previous: Period):
    return and_(column >= previous.start, column < period.end)


async def _users(s: AsyncSession, period: Period, previous: Period) -> dict:
    # A user's first active day in a period is the row whose prev_day is before the period (or None): a count
    # over the (day, prev_day) index, no DISTINCT (4x faster on SQLite at 500,000 sessions: bench/console.py).
    a = UserActivity
    active = (await s.execute(select(*[func.count(case((and_(a.day >= p.first, a.day <= p.last,
                                                              or_(a.prev_day.is_(None), a.prev_day < p.first)), 1)))
                                       for p in (period, previous)])
                              .where(a.day >= previous.first, a.day <= period.last))).one()
    new = (await s.execute(select(*_both(User.created_at, period, previous))
                           .where(_span(User.created_at, period, previous)))).one()
    return {"active_users": Change(*active), "new_users": Change(*new)}


async def _sessions(s: AsyncSession, period: Period, previous: Period) -> dict:
    d = SessionsDaily
    now = d.day >= period.first
    row = (await s.execute(select(
        *[func.coalesce(func.sum(case((now, col), else_=0)), 0) for col in (d.sessions, d.hops, d.done)],
        *[func.coalesce(func.sum(case((now, 0), else_=col)), 0) for col in (d.sessions, d.hops, d.done)])
        .where(d.day >= previous.first, d.day <= period.last))).one()
    sessions, hops, done, sessions_before, hops_before, done_before = (int(v) for v in row)
    return {"sessions": Change(sessions, sessions_before), "hops": Change(hops, hops_before),
            "completion_rate": Change(_rate(done, sessions), _rate(done_before, sessions_before))}


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def _sms(s: AsyncSession, period: Period, previous: Period) -> dict:
    """One pass, grouped by the cost's currency (NULL for a cost without one): the counts add up over the few
    groups, the costs are per group."""
    o = SmsOutbox
    sent, failed = o.status.in_(SENT), o.status == "failed"
    priced = o.cost.like("___ %")
    currency = case((priced, func.substr(o.cost, 1, 3)))
    amount = case((priced, cast(func.round(cast(func.substr(o.cost, 5), Numeric) * COST_DIGITS), Integer)),
                  else_=0)
    groups = (await s.execute(select(
        currency, *_both(o.created_at, period, previous, case((sent, 1), else_=0)),
        *_both(o.created_at, period, previous, case((failed, 1), else_=0)),
        *_both(o.created_at, period, previous, case((sent, o.segments), else_=0)),
        *_both(o.created_at, period, previous, amount))
        .where(_span(o.created_at, period, previous)).group_by(currency))).all()
    total = [sum(int(g[i]) for g in groups) for i in range(1, 7)]
    return {"sms_sent": Change(total[0], total[1]), "sms_failed": Change(total[2], total[3]),
            "sms_segments": Change(total[4], total[5]),
            "sms_cost": {g[0]: Change(int(g[7]), int(g[8])) for g in groups if g[0] is not None}}


async def _money(s: AsyncSession, period: Period, previous: Period) -> list[MoneyFlow]:
    p = Payment
    rows = (await s.execute(select(p.provider, p.currency, p.direction,
                                   *_both(p.created_at, period, previous, p.amount),
                                   *_both(p.created_at, period, previous))
                            .where(p.state == "succeeded", _span(p.created_at, period, previous))
                            .group_by(p.provider, p.currency, p.direction)
                            .order_by(p.direction, p.provider, p.currency))).all()
    return [MoneyFlow(provider, currency, "in" if direction == "collection" else "out", Change(int(a), int(ab)),
                      Change(int(n), int(nb))) for provider, currency, direction, a, ab, n, nb in rows]


async def _traded(s: AsyncSession, period: Period, previous: Period) -> list[Traded]:
    t = Trade
    rows = (await s.execute(select(t.currency, *_both(t.created_at, period, previous, t.wh),
                                   *_both(t.created_at, period, previous, t.money))
                            .where(_span(t.created_at, period, previous))
                            .group_by(t.currency).order_by(t.currency))).all()
    return [Traded(currency, Change(int(wh), int(wh_before)),
                   Change(_per_kwh(money, wh), _per_kwh(money_before, wh_before)))
            for currency, wh, wh_before, money, money_before in rows]


def _per_kwh(money: int, wh: int) -> int:
    return round(int(money) * 1000 / int(wh)) if wh else 0


async def _open_orders(s: AsyncSession, period: Period) -> tuple[Change, Change]:
    """Open now (the book's index), and open at the period's start (made before it, not closed by then)."""
    o = MarketOrder
    now = dict((await s.execute(select(o.side, func.count()).where(o.state == "open").group_by(o.side))).all())
    then = dict((await s.execute(select(o.side, func.count()).where(
        o.created_at < period.start, or_(o.closed_at.is_(None), o.closed_at >= period.start))
        .group_by(o.side))).all())
    return Change(now.get("sell", 0), then.get("sell", 0)), Change(now.get("buy", 0), then.get("buy", 0))


async def _advisor(s: AsyncSession, period: Period, previous: Period) -> dict:
    q = AdvisorQuestion
    row = (await s.execute(select(*_both(q.created_at, period, previous),
                                  *_both(q.created_at, period, previous, q.cost_micro_usd))
                           .where(_span(q.created_at, period, previous)))).one()
    return {"advisor_questions": Change(int(row[0]), int(row[1])),
            "advisor_cost_micro_usd": Change(int(row[2]), int(row[3]))}


async def _series(s: AsyncSession, period: Period) -> list[Day]:
    """Per day of the period: sessions, active users, Wh traded, money in and out per currency."""
    days = {day: {"sessions": 0, "active_users": 0, "wh_traded": 0, "money_in": {}, "money_out": {}}
            for day in period.each_day()}
    in_period = (SessionsDaily.day >= period.first, SessionsDaily.day <= period.last)
    for day, n in await s.execute(select(SessionsDaily.day, func.sum(SessionsDaily.sessions)).where(*in_period)
                                  .group_by(SessionsDaily.day)):
        days[as_date(day)]["sessions"] = int(n)
    for day, n in await s.execute(select(UserActivity.day, func.count()).where(
            UserActivity.day >= period.first, UserActivity.day <= period.last).group_by(UserActivity.day)):
        days[as_date(day)]["active_users"] = int(n)
    trade_day = utc_day(s, Trade.created_at)
    for day, wh in await s.execute(select(trade_day, func.sum(Trade.wh)).where(
            Trade.created_at >= period.start, Trade.created_at < period.end).group_by(trade_day)):
        days[as_date(day)]["wh_traded"] = int(wh)
    pay_day = utc_day(s, Payment.created_at)
    for day, direction, currency, amount in await s.execute(
            select(pay_day, Payment.direction, Payment.currency, func.sum(Payment.amount))
            .where(Payment.state == "succeeded", Payment.created_at >= period.start,
                   Payment.created_at < period.end)
            .group_by(pay_day, Payment.direction, Payment.currency)):
        days[as_date(day)]["money_in" if direction == "collection" else "money_out"][currency] = int(amount)
    return [Day(day, **values) for day, values in sorted(days.items())]
