"""The USSD funnel: per journey and screen, how many sessions reached it and how many ended there, and how
(enerlectra/reports/funnel.py, from the daily rollups), by language and country."""
from __future__ import annotations

from aiohttp import web

from enerlectra import i18n
from enerlectra.domain.phone import COUNTRIES
from enerlectra.reports import funnel as report
from enerlectra.reports.periods import Period
from ussd_app import appkeys
from ussd_app.console import access, charts, render

PATH = f"{access.PREFIX}/funnel"
NAV = ("Funnel", PATH, access.STAFF)
REASONS = ("done", "error", "hangup", "timeout")


def _filters(request: web.Request) -> tuple[int, str | None, str | None]:
    days = render.period_days(request)
    language, country = request.query.get("language", ""), request.query.get("country", "")
    if language and language not in i18n.LANGUAGES:
        raise web.HTTPBadRequest(text=f"language must be one of {', '.join(i18n.LANGUAGES)}.\n")
    if country and country not in COUNTRIES:
        raise web.HTTPBadRequest(text=f"country must be one of {', '.join(COUNTRIES)}.\n")
    return days, language or None, country or None


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


@access.allow(*NAV[2])
async def funnel(request: web.Request) -> web.StreamResponse:
    days, language, country = _filters(request)
    f = await report.funnel(request.app[appkeys.DB_READ], Period.ending(days), language, country)
    steps = render.Table("funnel", ["journey", "screen", "reached", *[f"ended {r}" for r in REASONS], "dropped here"],
                         [(j.journey, s.screen, s.reached, *[getattr(s.ended, r) for r in REASONS],
                           _pct(s.ended.drop_rate)) for j in f.journeys for s in j.screens],
                         title="Every screen", empty="No session has ended in this period.")
    segments = [render.Table(name, [key, "sessions", "hops", "completed", *[f"ended {r}" for r in REASONS]],
                             [(g.key, g.sessions, g.hops, _pct(g.completion_rate),
                               *[getattr(g.ended, r) for r in REASONS]) for g in rows], title=f"By {key}")
                for name, key, rows in (("languages", "language", f.by_language),
                                        ("countries", "country", f.by_country))]
    journey_charts = [charts.bar_chart(f"{j.journey}: sessions reaching each screen",
                                       [(s.screen.removeprefix(j.journey + "_"), s.reached) for s in j.screens])
                      for j in f.journeys]
    return render.page(request, "funnel.html", {
        "f": f, "days": str(days), "periods": render.PERIODS, "languages": i18n.LANGUAGES, "countries": list(COUNTRIES),
        "language": language or "", "country": country or "", "journey_charts": journey_charts,
        "reasons": REASONS}, steps, *segments)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, funnel)]
