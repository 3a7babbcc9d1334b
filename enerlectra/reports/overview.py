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

import asyncio
from dataclasses import dataclass, field
from datetime import date
from typing import Awaitable, Callable

from sqlalchemy import Integer, Numeric, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.models import (AdvisorQuestion, MarketOrder, Payment, SessionsDaily, SmsOutbox, Trade,
                                  User, UserActivity)
from enerlectra.reports.periods import Change, Period, as_date, utc_day

SENT = ("sent", "delivered")
COST_DIGITS = 10_000        # SMS cost in ten-thousandths of the currency (AT gives four decimals)
PARTS_AT_ONCE = 3           # the Overview's parts reading at the same time, a read connection each

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
    """`days` days ending `last` (today, UTC) against the `days` before.

    The parts are independent aggregates, so they run at once (PARTS_AT_ONCE at a time), each on a connection of
    its own: on SQLite each connection is a thread and on PostgreSQL a backend, so a two-core box reads two at a
    time (the page's time is about half the parts' sum: bench/console.py). Each figure is consistent in itself; the parts may
    see commits a few milliseconds apart, as any dashboard does."""
    period = Period.ending(days, last)
    previous = period.before()
    # A few parts at a time: app[DB_READ] is the pool every USSD screen reads through (PostgreSQL: 5 + 10), and
    # two cores read two at a time anyway; all ten at once took ten connections for no gain.
    at_once = asyncio.Semaphore(PARTS_AT_ONCE)

    async def part(read, *args):
        async with at_once, db() as s:
            return await read(s, *args)

    async def no_carbon() -> None:
        return None

    async def one_carbon(p: Period) -> int:
        async with at_once:
            return await carbon(db, p)

    async def carbon_change() -> Change:
        return Change(*await _all(one_carbon(period), one_carbon(previous)))

    (users, sessions, sms, (offers, bids), advisor, money, traded, series, carbon_kg) = await _all(
        part(_users, period, previous), part(_sessions, period, previous), part(_sms, period, previous),
        part(_open_orders, period), part(_advisor, period, previous), part(_money, period, previous),
        part(_traded, period, previous), part(_series, period),
        carbon_change() if carbon is not None else no_carbon())
    return Overview(period=period, previous=previous, **users, **sessions, **sms, money=money, traded=traded,
                    open_offers=offers, open_bids=bids, **advisor, series=series, carbon_avoided_kg=carbon_kg)


async def _all(*parts) -> list:
    """asyncio.gather, but a part that fails cancels the others and waits for them before raising: plain gather
    left them running on their own connections after the page had answered with the error."""
    tasks = [asyncio.ensure_future(p) for p in parts]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _halves(s: AsyncSession, column, period: Period, previous: Period, aggregates: list, *where,
                  keys: tuple = ()) -> list[tuple]:
    """Rows (*keys, now?, *aggregates) over [previous.start, period.end), grouped by `keys` and by which period
    the row's `column` falls in: one comparison a row (SQLite evaluates a CASE per row and aggregate, 3-8x the
    cost at bench/console.py's size). The few groups are then added up by the callers."""
    now = (column >= period.start).label("now")
    rows = await s.execute(select(*keys, now, *aggregates)
                           .where(column >= previous.start, column < period.end, *where).group_by(*keys, now))
    return [(*row[:len(keys)], bool(row[len(keys)]), *(int(v or 0) for v in row[len(keys) + 1:])) for row in rows]


def _change(rows: list[tuple], at: int = 0) -> Change:
    """Change(now, before) of aggregate `at` summed over (now?, *aggregates) rows."""
    return Change(sum(r[1 + at] for r in rows if r[0]), sum(r[1 + at] for r in rows if not r[0]))


async def _users(s: AsyncSession, period: Period, previous: Period) -> dict:
    # A user's first active day in a period is the row whose prev_day is before the period (or None): a count
    # over the (day, prev_day) index, no DISTINCT (4x faster on SQLite at 500,000 sessions: bench/console.py).
    a = UserActivity
    active = [await s.scalar(select(func.count()).select_from(a).where(
        a.day >= p.first, a.day <= p.last, or_(a.prev_day.is_(None), a.prev_day < p.first)))
        for p in (period, previous)]
    new = await _halves(s, User.created_at, period, previous, [func.count()])
    return {"active_users": Change(*active), "new_users": _change(new)}


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
    """Per period, one pass over the (created_at, status, segments, cost) index grouped by the cost's currency
    (NULL for a cost in another shape, such as "0"): the counts add up over the few groups, the costs are per
    group. Per period and without CASEs splitting the periods: SQLite evaluates every CASE for every row."""
    o = SmsOutbox
    sent = cast(o.status.in_(SENT), Integer)
    priced = o.cost.like("___ %")
    currency = case((priced, func.substr(o.cost, 1, 3)))
    amount = case((priced, cast(func.round(cast(func.substr(o.cost, 5), Numeric) * COST_DIGITS), Integer)))
    figures = []
    for p in (period, previous):
        groups = (await s.execute(select(currency, func.sum(sent), func.sum(cast(o.status == "failed", Integer)),
                                         func.sum(sent * o.segments), func.sum(amount))
                                  .where(o.created_at >= p.start, o.created_at < p.end).group_by(currency))).all()
        figures.append(({g[0]: int(g[4] or 0) for g in groups if g[0] is not None},
                        *(sum(int(g[i] or 0) for g in groups) for i in (1, 2, 3))))
    (cost, sent_n, failed_n, segments), (cost_b, sent_b, failed_b, segments_b) = figures
    return {"sms_sent": Change(sent_n, sent_b), "sms_failed": Change(failed_n, failed_b),
            "sms_segments": Change(segments, segments_b),
            "sms_cost": {c: Change(cost.get(c, 0), cost_b.get(c, 0)) for c in sorted(set(cost) | set(cost_b))}}


async def _money(s: AsyncSession, period: Period, previous: Period) -> list[MoneyFlow]:
    p = Payment
    rows = await _halves(s, p.created_at, period, previous, [func.sum(p.amount), func.count()],
                         p.state == "succeeded", keys=(p.direction, p.provider, p.currency))
    flows = sorted({r[:3] for r in rows})
    return [MoneyFlow(provider, currency, "in" if direction == "collection" else "out",
                      _change(mine := [r[3:] for r in rows if r[:3] == (direction, provider, currency)]),
                      _change(mine, 1))
            for direction, provider, currency in flows]


async def _traded(s: AsyncSession, period: Period, previous: Period) -> list[Traded]:
    t = Trade
    rows = await _halves(s, t.created_at, period, previous, [func.sum(t.wh), func.sum(t.money)], keys=(t.currency,))
    traded = []
    for currency in sorted({r[0] for r in rows}):
        mine = [r[1:] for r in rows if r[0] == currency]
        wh, money = _change(mine), _change(mine, 1)
        traded.append(Traded(currency, wh, Change(_per_kwh(money.now, wh.now), _per_kwh(money.before, wh.before))))
    return traded


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
    rows = await _halves(s, q.created_at, period, previous, [func.count(), func.sum(q.cost_micro_usd)])
    return {"advisor_questions": _change(rows), "advisor_cost_micro_usd": _change(rows, 1)}


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
