"""Carbon avoided (enerlectra/reports/carbon.py): per country, per cluster and the top users, for all time or
the last 30 days, each figure naming the factor it used; the factors in force come from the settings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiohttp import web
from sqlalchemy import select

from enerlectra.db.models import Cluster
from enerlectra.domain.money import format_energy
from enerlectra.redact import mask_msisdn
from enerlectra.reports import carbon
from ussd_app import appkeys
from ussd_app.console import access, render

PATH = f"{access.PREFIX}/carbon"
NAV = ("Carbon", PATH, access.STAFF)
SPANS = {"all": "all time", "30": "30 days", "365": "365 days"}


def _period(span: str) -> carbon.Period:
    if span not in SPANS:
        raise web.HTTPBadRequest(text=f"span must be one of {', '.join(SPANS)}.\n")
    if span == "all":
        return carbon.ALL_TIME
    return carbon.Period(since=datetime.now(timezone.utc) - timedelta(days=int(span)))


def _kg(grams: int) -> str:
    return f"{grams / 1000:,.1f}"


@access.allow(*NAV[2])
async def carbon_page(request: web.Request) -> web.StreamResponse:
    span = request.query.get("span", "all")
    period = _period(span)
    factors = carbon.Factors.from_settings(request.app[appkeys.SETTINGS])
    async with request.app[appkeys.DB_READ]() as s:
        countries = await carbon.per_country(s, factors, period)
        clusters = await carbon.per_cluster(s, factors, period)
        names = dict((await s.execute(select(Cluster.id, Cluster.code))).all()) if clusters else {}
        users = await carbon.per_user(s, factors, period, limit=100)
    tables = [
        render.Table("countries", ["country", "solar delivered", "kg CO2 avoided", "basis"],
                     [(c, format_energy(t.wh), _kg(t.grams), t.basis) for c, t in countries.items()],
                     title="By country"),
        render.Table("clusters", ["cluster", "solar delivered", "kg CO2 avoided", "basis"],
                     [(names.get(cid, cid), format_energy(t.wh), _kg(t.grams), t.basis)
                      for cid, t in sorted(clusters.items(), key=lambda kv: -kv[1].grams)],
                     title="By cluster", links={0: "/console/clusters/{}"}),
        render.Table("users", ["user", "name", "number", "solar delivered", "kg CO2 avoided", "basis"],
                     [(uid, name, mask_msisdn(msisdn), format_energy(a.wh), _kg(a.grams), a.basis)
                      for uid, name, msisdn, a in users], title="Top 100 users"),
        render.Table("factors", ["baseline", "g CO2 per kWh", "source"],
                     [*[(f"grid {c}", g, "IFI harmonised grid factor 2021 v3.1 (CARBON_GRID_FACTORS)")
                        for c, g in sorted(factors.grid.items())],
                      *[(b, g, "CARBON_BASELINE_FACTORS") for b, g in sorted(factors.offgrid.items())]],
                     title="Factors in use"),
    ]
    total = sum(t.grams for t in countries.values())
    return render.page(request, "carbon.html", {"span": span, "spans": SPANS, "total": carbon.format_co2(total)},
                       *tables)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, carbon_page)]
