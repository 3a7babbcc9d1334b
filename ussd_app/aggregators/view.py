"""The one USSD view, `POST /ussd/{aggregator}`, whatever the aggregator: parse with its adapter, run the
engine, render with its adapter. Metrics and the apology live here, once.

The webhook token (the aggregator's own) was checked before the request spent any budget
(ratelimits.webhook_limit) and the body held to the adapter's bounds (guards.edge_guard).
Unknown or disabled aggregator: 404. Bad number: 400. A number from a country we do not serve: a polite END.
"""
from __future__ import annotations

import logging
import time

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from enerlectra.db.models import UssdSessionEvent
from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry
from enerlectra.ussd.types import Session, UssdReply
from ussd_app import appkeys
from ussd_app.adapters.bounds import bad
from ussd_app.adapters.ratelimits import address_refusal, ussd_limits, ussd_refusal
from ussd_app.aggregators.contract import Aggregator, Notice
from ussd_app.engine.core import default_language, timed_out_reply
from ussd_app.engine.store import RateLimited

log = logging.getLogger(__name__)
UNSUPPORTED = UssdReply("Sorry, Enerlectra serves Zambian and Tanzanian numbers only.", end=True)
UNAVAILABLE = UssdReply("Sorry, Enerlectra is not available right now. Please dial again later.", end=True)


async def answer(request: web.Request, adapter: Aggregator) -> web.Response:
    app = request.app
    metrics = app[appkeys.METRICS]
    started = time.perf_counter()
    adapter.authenticate(request)
    body = await adapter.read(request)
    try:
        parsed = adapter.parse(body)
    except InvalidMsisdn as exc:
        metrics.errors.labels("bad_request").inc()
        raise bad("bad_number", str(exc)) from None
    except UnsupportedCountry:
        return adapter.render(UNSUPPORTED, body)
    if isinstance(parsed, Notice):
        refused = await address_refusal(request)       # before the notice closes anything
        if refused is not None:
            return refused
        await session_over(app, parsed, adapter.name)
        return adapter.acknowledge(parsed, body)
    try:
        hop = await adapter.with_hop_id(parsed, app[appkeys.ENGINE].store)
        try:
            reply = await app[appkeys.ENGINE].handle(hop, ussd_limits(request, hop))
        except RateLimited as over:
            refusal = await ussd_refusal(request, hop, over.verdict)
            if isinstance(refusal, web.Response):
                return refusal
            reply = refusal
    except Exception:  # Redis or SQL down: the phone gets an apology, never a 500 or a traceback
        log.exception("session %s: no reply from the engine", parsed.session_id)
        metrics.errors.labels("unavailable").inc()
        reply = UNAVAILABLE
    metrics.hops.labels(parsed.aggregator, "end" if reply.end else "con").inc()
    metrics.latency.labels(parsed.aggregator).observe(time.perf_counter() - started)
    return adapter.render(reply, body)


def session_over_reply(session: Session) -> UssdReply:
    return timed_out_reply(session.lang or default_language(session.country))


def notice_reason(status: str) -> str:
    """The end reason (enerlectra/ussd/ends.py) of a neutral notice's status: Timeout, or the user left."""
    return "timeout" if status == "Timeout" else "hangup"


async def session_over(app: web.Application, notice: Notice, aggregator: str) -> None:
    """An end-of-session notice: the session ends here too (a late hop gets an END, the resume point stays),
    and a row records it (once per session; the aggregator's fields only, no inputs)."""
    if not await close_on_notice(app, notice.session_id, notice.msisdn, aggregator, notice_reason(notice.status)):
        return
    row = UssdSessionEvent(session_id=notice.session_id, msisdn=notice.msisdn, status=notice.status,
                           service_code=notice.service_code, network_code=notice.network_code)
    await record_notice(app, row)


async def close_on_notice(app: web.Application, session_id: str, msisdn: str, aggregator: str,
                          reason: str) -> bool:
    """Close the session a notice names (every aggregator's notices, AT's events included, come here). False:
    the notice names another number than the session's owner -- nothing closed, nothing to record. Redis
    down, or a hop still holding the session's lock: logged, never a 5xx (the session expires on its own).
    A live session closed pushes its end record with `reason` (hangup, timeout, error)."""
    engine = app[appkeys.ENGINE]
    try:
        closed = await engine.store.close(session_id, session_over_reply, msisdn,
                                          lambda session: engine.end_record(session, aggregator, reason))
    except Exception:
        log.exception("session %s: not closed on the aggregator's notice", session_id)
        return True
    if closed == "foreign":
        log.warning("session %s: an end notice naming another number ignored", session_id)
        app[appkeys.METRICS].errors.labels("foreign_number").inc()
        return False
    return True


async def record_notice(app: web.Application, row: UssdSessionEvent) -> None:
    """The notice's row, once per session (a repeated notice is a duplicate, acknowledged all the same)."""
    try:
        async with app[appkeys.DB]() as s, s.begin():
            s.add(row)
    except IntegrityError:
        log.info("session %s: duplicate end-of-session notice ignored", row.session_id)


async def unknown(request: web.Request) -> web.Response:
    raise web.HTTPNotFound(text=f"no USSD aggregator {request.match_info['aggregator'][:40]!r} here\n")


def paths(adapter: Aggregator) -> list[str]:
    """Where an aggregator posts hops: its name, and its name with the token in the path."""
    return [f"/ussd/{adapter.name}", f"/ussd/{adapter.name}/{{token}}"]


def hop_paths(adapters: dict[str, Aggregator]) -> list[str]:
    """The routes `answer` serves (ratelimits.webhook_limit leaves their address's count to it)."""
    return [path for adapter in adapters.values() for path in paths(adapter)]


def routes(adapters: dict[str, Aggregator]) -> list[web.RouteDef]:
    """The webhook routes of the enabled aggregators (their own endpoints, such as AT's events, first)."""
    found: list[web.RouteDef] = []
    for adapter in adapters.values():
        found += adapter.extra_routes()
    for adapter in adapters.values():
        found += [web.post(path, _handler(adapter)) for path in paths(adapter)]
    return found


def _handler(adapter: Aggregator):
    async def handler(request: web.Request) -> web.Response:
        return await answer(request, adapter)
    return handler


def fallback_routes() -> list[web.RouteDef]:
    """Any other /ussd/NAME: a one-line 404 (registered after the aggregators' routes)."""
    return [web.post("/ussd/{aggregator}", unknown), web.post("/ussd/{aggregator}/{token}", unknown)]


def tokens(adapters: dict[str, Aggregator]) -> dict[str, str | None]:
    """route path -> the token its aggregator wants (ratelimits.webhook_limit checks it)."""
    found: dict[str, str | None] = {}
    for adapter in adapters.values():
        for path in paths(adapter) + [r.path for r in adapter.extra_routes()]:
            found[path] = adapter.config.token
    return found


def json_fields(adapters: dict[str, Aggregator]) -> dict:
    """route path -> the JSON field table the edge guard holds it to."""
    return {path: adapter.fields for adapter in adapters.values() if adapter.body == "json"
            for path in paths(adapter)}
