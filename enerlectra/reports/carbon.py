"""Carbon avoided by solar kWh delivered (issue 19; protocols.md 13).

Delivered Wh = meter export credited (the `credited_wh` of credited readings, by when the meter read it) +
energy sold on the market by sellers without a meter (each trade once, to its seller). A metered seller's sales
are not added: the kWh they sell are the export their meter already counted (each kWh counted once). Avoided grams = Wh x the factor of what that
energy displaces / 1000: the user's country grid factor, or for a cluster member the cluster's baseline
(diesel, kerosene; "grid" is the country's factor again). Factors are whole grams CO2 per kWh from
CARBON_GRID_FACTORS / CARBON_BASELINE_FACTORS; sums stay integers and are rounded down once, at the end.

Every query groups in SQL by (who, country, baseline) and returns a few rows; each figure names its basis.
A user's baseline is their current cluster's (one active cluster at a time); a cluster counts its members'
deliveries while they were members.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_decimal
from sqlalchemy import and_, exists, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Cluster, MarketOrder, Membership, Meter, MeterReading, Trade, User
from enerlectra.domain.pins import LOCAL_TIME
from enerlectra.settings import grams_per_kwh

GRID = "grid"
BASELINES = (GRID, "diesel", "kerosene")


@dataclass(frozen=True)
class Factors:
    """Grams CO2 per kWh: per country for the grid, per off-grid baseline."""
    grid: dict[str, int]
    offgrid: dict[str, int]

    @classmethod
    def from_settings(cls, settings) -> "Factors":
        return _factors(settings.carbon_grid_factors, settings.carbon_baseline_factors)

    def of(self, baseline: str, country: str) -> int:
        return self.grid.get(country, 0) if baseline == GRID else self.offgrid.get(baseline, 0)


@lru_cache(maxsize=8)
def _factors(grid: str, offgrid: str) -> Factors:
    """Parsed once per setting (the cluster screen asks on every visit)."""
    return Factors(grams_per_kwh(grid), grams_per_kwh(offgrid))


@dataclass(frozen=True)
class Avoided:
    """One figure and what it rests on: `wh` delivered displacing `baseline` (in `country` for the grid)."""
    wh: int
    grams: int
    baseline: str
    country: str
    g_per_kwh: int

    @property
    def basis(self) -> str:
        """'grid ZM 334 g/kWh', 'diesel 800 g/kWh': the factor a figure used, for pages and exports."""
        where = f" {self.country}" if self.baseline == GRID else ""
        return f"{self.baseline}{where} {self.g_per_kwh} g/kWh"


@dataclass(frozen=True)
class Total:
    """A sum over several bases (a country with grid and diesel members): the parts name theirs."""
    wh: int
    grams: int
    parts: tuple[Avoided, ...]

    @property
    def basis(self) -> str:
        return "; ".join(part.basis for part in self.parts) or "-"


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC; None on either side: open (all time)."""
    since: datetime | None = None
    until: datetime | None = None


ALL_TIME = Period()


def avoided(wh: int, baseline: str, country: str, factors: Factors) -> Avoided:
    rate = factors.of(baseline, country)
    return Avoided(int(wh), int(wh) * rate // 1000, baseline, country, rate)


def total(parts: list[Avoided]) -> Total:
    return Total(sum(p.wh for p in parts), sum(p.grams for p in parts),
                 tuple(sorted(parts, key=lambda p: (p.baseline, p.country))))


def format_co2(grams: int) -> str:
    """'850 g', '12.3 kg', '4.56 t' (GSM-7, digits grouped as format_energy does)."""
    if grams < 1000:
        return f"{grams} g"
    if grams < 1_000_000:
        return format_decimal(Decimal(grams // 100).scaleb(-1), format="#,##0.0", locale="en") + " kg"
    return format_decimal(Decimal(grams // 10_000).scaleb(-2), format="#,##0.00", locale="en") + " t"


def month_start(when: datetime, country: str) -> datetime:
    """The first of the user's local month, midnight, in UTC."""
    local = when.astimezone(LOCAL_TIME.get(country, timezone.utc))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


def _within(column, period: Period):
    conditions = []
    if period.since is not None:
        conditions.append(column >= period.since)
    if period.until is not None:
        conditions.append(column < period.until)
    return and_(true(), *conditions)


def _one_of(column, users):
    return column == users if isinstance(users, int) else column.in_(users)


def deliveries(period: Period = ALL_TIME, sellers=None):
    """(user_id, at, wh) of every delivery in the period: credited meter export, and unmetered sellers' sales.

    `sellers`: a user id or a SELECT of user ids to keep (one user, a cluster's members). Their sales are found
    through their offers (market_orders.user_id, trades.sell_order_id: both indexed) and their export through
    their meters, so a cluster screen reads its members' rows only."""
    unmetered = ~exists(select(Meter.id).where(Meter.user_id == Trade.seller_id))
    sold = select(Trade.seller_id.label("user_id"), Trade.created_at.label("at"), Trade.wh.label("wh")
                  ).where(_within(Trade.created_at, period), unmetered)
    exported = (select(Meter.user_id.label("user_id"), MeterReading.read_at.label("at"),
                       MeterReading.credited_wh.label("wh"))
                .join(Meter, Meter.id == MeterReading.meter_id)
                .where(MeterReading.status == "credited", MeterReading.credited_wh > 0,
                       _within(MeterReading.read_at, period)))
    if sellers is not None:
        offers = select(MarketOrder.id).where(_one_of(MarketOrder.user_id, sellers), MarketOrder.side == "sell")
        sold = sold.where(Trade.sell_order_id.in_(offers))
        exported = exported.where(_one_of(Meter.user_id, sellers))
    return union_all(sold, exported).subquery("deliveries")


def _user_baseline():
    """The baseline of the user's active cluster, grid without one (outer-joined below; queries group by the
    column itself: PostgreSQL would see two COALESCEs with their own bound 'grid' as different expressions)."""
    return func.coalesce(Cluster.carbon_baseline, GRID)


def _with_baseline(query, d):
    return (query.join(User, User.id == d.c.user_id)
            .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.status == "active"))
            .outerjoin(Cluster, Cluster.id == Membership.cluster_id))


async def per_user(s: AsyncSession, factors: Factors, period: Period = ALL_TIME,
                   limit: int = 100) -> list[tuple[int, str, str, Avoided]]:
    """(user id, name, msisdn, figure), most delivered first, at most `limit` users."""
    d = deliveries(period)
    wh = func.sum(d.c.wh)
    rows = (await s.execute(_with_baseline(select(d.c.user_id, User.name, User.msisdn, User.country,
                                                  _user_baseline(), wh), d)
                            .group_by(d.c.user_id, User.name, User.msisdn, User.country, Cluster.carbon_baseline)
                            .order_by(wh.desc()).limit(limit))).all()
    return [(uid, name, msisdn, avoided(w, base, country, factors)) for uid, name, msisdn, country, base, w in rows]


async def of_user(s: AsyncSession, factors: Factors, user: User, period: Period = ALL_TIME) -> Avoided:
    """One user's figure (CARBON by SMS), on their current baseline."""
    d = deliveries(period, user.id)
    row = (await s.execute(select(func.coalesce(func.sum(d.c.wh), 0), select(_user_baseline())
                                  .select_from(Membership).outerjoin(Cluster, Cluster.id == Membership.cluster_id)
                                  .where(Membership.user_id == user.id, Membership.status == "active")
                                  .scalar_subquery()))).one()
    return avoided(row[0], row[1] or GRID, user.country, factors)


async def per_cluster(s: AsyncSession, factors: Factors, period: Period = ALL_TIME,
                      cluster_id: int | None = None) -> dict[int, Total]:
    """cluster id -> its members' deliveries while members, on the cluster's baseline (grid: each member's
    country)."""
    members = None if cluster_id is None else select(Membership.user_id).where(Membership.cluster_id == cluster_id)
    d = deliveries(period, members)
    q = (select(Membership.cluster_id, User.country, Cluster.carbon_baseline, func.sum(d.c.wh))
         .select_from(d).join(Membership, and_(Membership.user_id == d.c.user_id, d.c.at >= Membership.joined_at,
                                               or_(Membership.left_at.is_(None), d.c.at < Membership.left_at)))
         .join(Cluster, Cluster.id == Membership.cluster_id).join(User, User.id == d.c.user_id)
         .group_by(Membership.cluster_id, User.country, Cluster.carbon_baseline))
    if cluster_id is not None:
        q = q.where(Membership.cluster_id == cluster_id)
    parts: dict[int, list[Avoided]] = {}
    for cid, country, base, wh in (await s.execute(q)).all():
        parts.setdefault(cid, []).append(avoided(wh, base, country, factors))
    return {cid: total(found) for cid, found in parts.items()}


async def of_cluster(s: AsyncSession, factors: Factors, cluster: Cluster, period: Period = ALL_TIME) -> Total:
    return (await per_cluster(s, factors, period, cluster.id)).get(cluster.id, total([]))


async def per_country(s: AsyncSession, factors: Factors, period: Period = ALL_TIME) -> dict[str, Total]:
    """country -> its users' deliveries, split by the baseline each user is on."""
    d = deliveries(period)
    rows = (await s.execute(_with_baseline(select(User.country, _user_baseline(), func.sum(d.c.wh)), d)
                            .group_by(User.country, Cluster.carbon_baseline).order_by(User.country))).all()
    parts: dict[str, list[Avoided]] = {}
    for country, base, wh in rows:
        parts.setdefault(country, []).append(avoided(wh, base, country, factors))
    return {country: total(found) for country, found in parts.items()}
