"""Africa's Talking USSD: form POST in, `CON `/`END ` text/plain out (protocols.md section 1).

The engine never sees AT quirks: this module validates the form, turns phoneNumber into E.164,
and stores the end-of-session notification.
"""
from __future__ import annotations

import logging
import re
import time

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from ussd_app import appkeys
from ussd_app.adapters.auth import check_token
from ussd_app.adapters.bounds import at_time, bad, whole
from ussd_app.adapters.ratelimits import ussd_refusal
from enerlectra.db.models import UssdSessionEvent
from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from enerlectra.ussd.types import UssdReply, UssdRequest
from enerlectra.redact import mask_input

log = logging.getLogger(__name__)
AGGREGATOR = "africastalking"
UNSUPPORTED = UssdReply("Sorry, Enerlectra serves Zambian and Tanzanian numbers only.", end=True)
UNAVAILABLE = UssdReply("Sorry, Enerlectra is not available right now. Please dial again later.", end=True)


def _reply(reply: UssdReply) -> web.Response:
    return web.Response(text=reply.wire, content_type="text/plain")


async def _form(request: web.Request) -> dict[str, str]:
    """The form guards.edge_guard parsed and held to bounds.FORMS (one text value per field)."""
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def parse_request(form: dict[str, str]) -> UssdRequest:
    """Form fields as AT sends them, within bounds.FORMS; raises InvalidMsisdn / UnsupportedCountry."""
    number = parse_msisdn(form["phoneNumber"])
    return UssdRequest(session_id=form["sessionId"].strip(), msisdn=number.e164, country=number.country,
                       text=form.get("text", ""), service_code=form.get("serviceCode", ""),
                       network_code=form.get("networkCode", ""))


async def ussd(request: web.Request) -> web.Response:
    app = request.app
    metrics = app[appkeys.METRICS]
    started = time.perf_counter()
    check_token(request, app[appkeys.SETTINGS].webhook_token)
    form = await _form(request)
    try:
        req = parse_request(form)
    except InvalidMsisdn as exc:
        metrics.errors.labels("bad_request").inc()
        raise bad("bad_number", str(exc)) from None
    except UnsupportedCountry:
        return _reply(UNSUPPORTED)
    try:
        reply = await ussd_refusal(app, req) or await app[appkeys.ENGINE].handle(req)
    except Exception:  # Redis or SQL down: the phone gets an apology, never a 500 or a traceback
        log.exception("session %s: no reply from the engine", req.session_id)
        metrics.errors.labels("unavailable").inc()
        reply = UNAVAILABLE
    metrics.hops.labels(AGGREGATOR, "end" if reply.end else "con").inc()
    metrics.latency.labels(AGGREGATOR).observe(time.perf_counter() - started)
    return _reply(reply)


_COST = re.compile(r"^\s*(?:([A-Z]{3})\s+)?(-?\d+(?:\.\d+)?)\s*$")


def parse_cost(raw: str) -> tuple[str | None, str | None]:
    """AT sends the session cost as "0.10" or "KES 0.10": keep the currency and the decimal text."""
    match = _COST.match(raw or "")
    return (match.group(1), match.group(2)) if match else (None, None)


async def events(request: web.Request) -> web.Response:
    """End-of-session notification: stored once per sessionId for analytics, PINs in its input masked.

    The engine says which steps of the session were PINs while it remembers the session; after that, every
    PIN-shaped step is masked."""
    app = request.app
    check_token(request, app[appkeys.SETTINGS].webhook_token)
    form = await _form(request)
    session_id, status = form["sessionId"].strip(), form["status"].strip()      # required by bounds.FORMS
    currency, amount = parse_cost(form.get("cost", ""))
    secret = await app[appkeys.ENGINE].store.secret_steps(session_id)
    row = UssdSessionEvent(
        session_id=session_id, msisdn=form.get("phoneNumber", ""), service_code=form.get("serviceCode", ""),
        network_code=form.get("networkCode", ""), status=status, cost_currency=currency, cost_amount=amount,
        duration_ms=whole(form.get("durationInMillis")), hops=whole(form.get("hopsCount")),
        input=mask_input(form.get("input", ""), secret), last_response=form.get("lastAppResponse", ""),
        error=form.get("errorMessage", ""), occurred_at=at_time(form.get("date")))
    try:
        async with app[appkeys.DB]() as s, s.begin():
            s.add(row)
    except IntegrityError:
        log.info("session %s: duplicate end-of-session notification ignored", session_id)
    return web.Response(text="OK")


def routes() -> list[web.RouteDef]:
    return [web.post("/ussd/africastalking", ussd), web.post("/ussd/africastalking/events", events)]
