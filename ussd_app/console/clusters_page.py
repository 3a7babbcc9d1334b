"""Clusters: the list (staff), and one cluster's page: members, pool, contributions, proposals with votes,
members' meters and flagged readings, CO2 avoided. A chair sees only their own cluster (any other: 403).
An admin may reset a meter's baseline after a swap (audited)."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import String, cast, func, literal, select

from enerlectra.db.models import Account, Cluster, Membership
from enerlectra.domain import audit, meters
from enerlectra.domain.money import format_energy, format_money
from enerlectra.reports import carbon
from enerlectra.reports import clusters as report
from ussd_app import appkeys
from ussd_app.console import access, charts, render

PATH = f"{access.PREFIX}/clusters"
NAV = ("Clusters", PATH, access.EVERYONE)


async def _cluster_by_code(session, code: str) -> Cluster:
    cluster = await session.scalar(select(Cluster).where(Cluster.code == code.upper()))
    if cluster is None:
        raise web.HTTPNotFound(text=f"No cluster {code!r}.\n")
    return cluster


def _may_see(request: web.Request, cluster_id: int) -> None:
    who = access.operator(request)
    if who.role == "chair" and who.cluster_id != cluster_id:
        raise web.HTTPForbidden(text="A chair sees their own cluster only.\n")


@access.allow(*NAV[2])
async def cluster_list(request: web.Request) -> web.StreamResponse:
    who = access.operator(request)
    async with request.app[appkeys.DB_READ]() as s:
        if who.role == "chair":
            code = await s.scalar(select(Cluster.code).where(Cluster.id == who.cluster_id))
            raise web.HTTPFound(f"{PATH}/{code}")
        active = (select(Membership.cluster_id, func.count().label("n")).where(Membership.status == "active")
                  .group_by(Membership.cluster_id).subquery())
        # The pool's account code, as members.pool_code writes it ("cluster:7:ZMW"), built in SQL (||).
        pool = Account.code == literal("cluster:") + cast(Cluster.id, String) + literal(":") + Cluster.currency
        rows = (await s.execute(
            select(Cluster.code, Cluster.name, Cluster.kind, Cluster.area, Cluster.currency,
                   func.coalesce(active.c.n, 0), func.coalesce(Account.balance, 0), Cluster.carbon_baseline)
            .outerjoin(active, active.c.cluster_id == Cluster.id).outerjoin(Account, pool)
            .order_by(Cluster.code).limit(500))).all()
    table = render.Table("clusters", ["code", "name", "kind", "area", "currency", "active members", "pool",
                                      "carbon baseline"],
                         [(code, name, kind, area, cur, n, format_money(pool_minor, cur), base)
                          for code, name, kind, area, cur, n, pool_minor, base in rows],
                         links={0: PATH + "/{}"}, empty="No clusters yet.")
    return render.page(request, "clusters.html", {}, table)


@access.allow(*NAV[2])
async def cluster_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[appkeys.SETTINGS]
    async with request.app[appkeys.DB_READ]() as s:
        cluster = await _cluster_by_code(s, request.match_info["code"])
        _may_see(request, cluster.id)
        pool = await s.scalar(select(Account.balance).where(Account.code == f"cluster:{cluster.id}:{cluster.currency}"))
        members = await report.members(s, cluster.id)
        given = await report.contributions(s, cluster)
        votes = await report.proposals(s, cluster.id)
        metered = await report.meters(s, cluster.id)
        flagged = await report.flagged(s, cluster.id)
        co2 = (await carbon.per_cluster(s, carbon.Factors.from_settings(settings), cluster_id=cluster.id)
               ).get(cluster.id)
    cur = cluster.currency
    tables = [
        render.Table("members", ["name", "number", "role", "status", "contributed", "joined"],
                     [(m.name, m.number, m.role, m.status, format_money(m.contributed, cur), f"{m.joined_at:%Y-%m-%d}")
                      for m in members], title="Members"),
        render.Table("contributions", ["day", "amount", "contributions"],
                     [(c.day.isoformat(), format_money(c.amount, cur), c.count) for c in given],
                     title="Contributions by day"),
        render.Table("proposals", ["number", "kind", "title", "amount", "state", "deadline", "yes", "no",
                                   "not voted"],
                     [(p.number, p.kind, p.title, format_money(p.amount, cur) if p.amount is not None else "",
                       p.state, f"{p.deadline:%Y-%m-%d %H:%M}", p.yes, p.no, p.not_voted) for p in votes],
                     title="Proposals and votes"),
        render.Table("meters", ["serial", "owner", "number", "last read", "export", "import", "credited",
                                "flagged", "latest"],
                     [(m.serial, m.owner, m.number, f"{m.last_read_at:%Y-%m-%d %H:%M}" if m.last_read_at else
                       "waiting for a new baseline", m.export_wh, m.import_wh, format_energy(m.credited_wh),
                       m.flagged, m.latest_status) for m in metered], title="Members' meters"),
        render.Table("flagged", ["serial", "number", "read at", "export Wh", "import Wh", "reason"],
                     [(f.serial, f.number, f"{f.read_at:%Y-%m-%d %H:%M}", f.export_wh, f.import_wh, f.reason)
                      for f in flagged], title="Flagged readings", empty="No flagged readings."),
    ]
    chart = charts.bar_chart("Contributions by day", [(c.day.isoformat()[5:], c.amount / 100) for c in given])
    return render.page(request, "cluster.html", {
        "cluster": cluster, "pool": format_money(pool or 0, cur), "chart": chart,
        "co2": carbon.format_co2(co2.grams) if co2 else "0 g", "co2_basis": co2.basis if co2 else cluster.carbon_baseline,
        "delivered": format_energy(co2.wh) if co2 else format_energy(0),
        "may_reset": access.operator(request).role == "admin", "baselines": carbon.BASELINES,
        "done": request.query.get("done", "")}, *tables)


@access.allow("admin")
async def reset_baseline(request: web.Request) -> web.StreamResponse:
    """After a meter swap: the next reading is the new baseline (enerlectra/domain/meters.py), audited."""
    serial = request.match_info["serial"]
    async with request.app[appkeys.DB]() as s, s.begin():
        try:
            result = await meters.reset_baseline(s, serial)
        except meters.UnknownMeter:
            raise web.HTTPNotFound(text=f"No meter {serial!r}.\n") from None
        if result["changed"]:
            audit.record(s, access.operator(request).actor, "meter.reset_baseline", f"meter:{result['serial']}",
                         before=result["before"], after=result["after"])
    back = access.local_path((await access.read_form(request)).get("back"), PATH, PATH)
    flash = "reset" if result["changed"] else "already-waiting"
    raise web.HTTPSeeOther(f"{back}?done={flash}-{result['serial']}")


@access.allow("admin")
async def set_baseline(request: web.Request) -> web.StreamResponse:
    """What the cluster's solar displaces (grid / diesel / kerosene): its carbon figures use that factor."""
    baseline = str((await request.post()).get("baseline", ""))
    if baseline not in carbon.BASELINES:
        raise web.HTTPBadRequest(text=f"baseline must be one of {', '.join(carbon.BASELINES)}.\n")
    async with request.app[appkeys.DB]() as s, s.begin():
        cluster = await _cluster_by_code(s, request.match_info["code"])
        if cluster.carbon_baseline != baseline:
            audit.record(s, access.operator(request).actor, "cluster.baseline", f"cluster:{cluster.code}",
                         before={"carbon_baseline": cluster.carbon_baseline}, after={"carbon_baseline": baseline})
            cluster.carbon_baseline = baseline
    raise web.HTTPSeeOther(f"{PATH}/{cluster.code}?done=baseline-{baseline}")


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, cluster_list), web.get(PATH + "/{code}", cluster_page),
            web.post(PATH + "/{code}/baseline", set_baseline),
            web.post(f"{access.PREFIX}/meters/{{serial}}/reset-baseline", reset_baseline)]
