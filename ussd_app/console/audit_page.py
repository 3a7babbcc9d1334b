"""The Audit page: every change made from the console or the CLI, newest first, filterable by action and actor."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from enerlectra.db.models import AuditEntry
from ussd_app import appkeys
from ussd_app.console import access, render

PATH = f"{access.PREFIX}/audit"
NAV = ("Audit", PATH, access.STAFF)
LIMIT = 500


@access.allow(*NAV[2])
async def audit(request: web.Request) -> web.StreamResponse:
    action, actor = request.query.get("action", "").strip(), request.query.get("actor", "").strip()
    query = select(AuditEntry.created_at, AuditEntry.actor, AuditEntry.action, AuditEntry.target,
                   AuditEntry.before, AuditEntry.after).order_by(AuditEntry.id.desc()).limit(LIMIT)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor.lower())
    async with request.app[appkeys.DB_READ]() as session:
        rows = (await session.execute(query)).all()
    table = render.Table("audit", ["when", "who", "action", "target", "before", "after"],
                                 [tuple(r) for r in rows], title=f"Latest {LIMIT} changes")
    return render.page(request, "audit.html", {"action": action, "actor": actor}, table)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, audit)]
