"""The Overview: today / 7 / 30 days against the period before (enerlectra/reports/overview.py), with charts."""
from __future__ import annotations

from aiohttp import web

from enerlectra.domain.money import format_energy, format_money
from enerlectra.reports import carbon
from enerlectra.reports import overview as report
from enerlectra.reports.periods import Period
from enerlectra.settings import Settings
from ussd_app import appkeys
from ussd_app.console import access, charts, render

PATH = f"{access.PREFIX}/overview"
NAV = ("Overview", PATH, access.STAFF)


def carbon_kg(settings: Settings) -> report.CarbonHook:
    """kg CO2 avoided in a period, every country and baseline together (the Carbon page splits them)."""
    factors = carbon.Factors.from_settings(settings)

    async def kg(db, period: Period) -> int:
        async with db() as s:
            totals = await carbon.per_country(s, factors, carbon.Period(period.start, period.end))
        return sum(t.grams for t in totals.values()) // 1000
    return kg


@access.allow(*NAV[2])
async def overview(request: web.Request) -> web.StreamResponse:
    days = render.period_days(request)
    app = request.app
    o = await report.overview(app[appkeys.DB_READ], days, carbon=carbon_kg(app[appkeys.SETTINGS]))
    labels = [d.day.isoformat() for d in o.series]
    currencies = sorted({c for d in o.series for c in (*d.money_in, *d.money_out)})
    money_series = [charts.Series(f"{c} {way}", [getattr(d, f"money_{way}").get(c, 0) / 100 for d in o.series])
                    for c in currencies for way in ("in", "out")]
    chart_list = [
        charts.line_chart("Sessions and active users", labels,
                          [charts.Series("sessions", [d.sessions for d in o.series]),
                           charts.Series("active users", [d.active_users for d in o.series])]),
        charts.line_chart("kWh traded", labels, [charts.Series("kWh", [d.wh_traded / 1000 for d in o.series])]),
        charts.line_chart("Money in and out (major units)", labels, money_series),
    ]
    money = render.Table("money", ["provider", "currency", "direction", "amount", "before", "change %",
                                   "payments", "payments before"],
                         [(m.provider, m.currency, m.direction, format_money(m.amount.now, m.currency),
                           format_money(m.amount.before, m.currency), m.amount.percent, m.count.now, m.count.before)
                          for m in o.money], title="Money in and out by provider", empty="No payments settled.")
    traded = render.Table("traded", ["currency", "energy", "before", "average price per kWh", "before"],
                          [(t.currency, format_energy(t.wh.now), format_energy(t.wh.before),
                            format_money(t.average_price.now, t.currency),
                            format_money(t.average_price.before, t.currency)) for t in o.traded],
                          title="Energy traded", empty="No trades.")
    series = render.Table("series", ["day", "sessions", "active users", "Wh traded"],
                          [(d.day.isoformat(), d.sessions, d.active_users, d.wh_traded) for d in o.series],
                          title="Per day")
    return render.page(request, "overview.html", {"o": o, "days": str(days), "periods": render.PERIODS,
                                                  "charts": chart_list, "cards": _cards(o)},
                       money, traded, series)


def _cards(o: report.Overview) -> list[tuple[str, str, str, float | None]]:
    """(label, now, before, change %) for the figure cards."""
    def n(label, change, shown=str):
        return (label, shown(change.now), shown(change.before), change.percent)

    cards = [n("Active users", o.active_users), n("New users", o.new_users), n("USSD sessions", o.sessions),
             n("USSD hops", o.hops), n("Completion", o.completion_rate, _percent), n("SMS sent", o.sms_sent),
             n("SMS failed", o.sms_failed), n("SMS segments", o.sms_segments),
             n("Open offers", o.open_offers), n("Open bids", o.open_bids),
             n("Advisor questions", o.advisor_questions),
             n("Advisor cost", o.advisor_cost_micro_usd, lambda v: f"${v / 1_000_000:.2f}")]
    for currency, cost in sorted(o.sms_cost.items()):
        cards.append(n(f"SMS cost {currency}", cost, lambda v: f"{v / report.COST_DIGITS:.2f}"))
    if o.carbon_avoided_kg is not None:
        cards.append(n("CO2 avoided", o.carbon_avoided_kg, lambda v: f"{v:,} kg"))
    return cards


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, overview)]
