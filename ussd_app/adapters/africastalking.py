"""Africa's Talking USSD: form POST in, `CON `/`END ` text/plain out (protocols.md section 1).

The engine never sees AT quirks: this module validates the form, turns phoneNumber into E.164,
and stores the end-of-session notification.
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from ussd_app import appkeys
from ussd_app.adapters.auth import check_token
from ussd_app.adapters.ratelimits import ussd_refusal
from ussd_app.db.models import UssdSessionEvent
from ussd_app.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from ussd_app.engine.types import UssdReply, UssdRequest
from ussd_app.redact import mask_input

log = logging.getLogger(__name__)
AGGREGATOR = "africastalking"
MAX_TEXT = 1000            # the whole session's input; real sessions stay far below
UNSUPPORTED = UssdReply("Sorry, Enerlectra serves Zambian and Tanzanian numbers only.", end=True)
UNAVAILABLE = UssdReply("Sorry, Enerlectra is not available right now. Please dial again later.", end=True)


def _bad(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=reason + "\n")


def _reply(reply: UssdReply) -> web.Response:
    return web.Response(text=reply.wire, content_type="text/plain")


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise _bad("expected a form (application/x-www-form-urlencoded)")
    try:
        form = await request.post()
    except ValueError as exc:
        raise _bad(f"unreadable form: {exc}") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def parse_request(form: dict[str, str]) -> UssdRequest:
    """Form fields exactly as AT sends them; raises HTTPBadRequest with a one-line reason."""
    session_id = form.get("sessionId", "").strip()
    if not session_id:
        raise _bad("sessionId is required")
    if len(session_id) > 128:
        raise _bad("sessionId is too long")
    if "phoneNumber" not in form:
        raise _bad("phoneNumber is required")
    text = form.get("text", "")
    if len(text) > MAX_TEXT:
        raise _bad("text is too long")
    number = parse_msisdn(form["phoneNumber"])          # InvalidMsisdn / UnsupportedCountry
    return UssdRequest(session_id=session_id, msisdn=number.e164, country=number.country, text=text,
                       service_code=form.get("serviceCode", ""), network_code=form.get("networkCode", ""))


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
        raise _bad(str(exc)) from None
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


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(float(raw)) if raw not in (None, "") else None
    except ValueError:
        return None


def _when(raw: str | None) -> datetime | None:
    try:
        return datetime.strptime(raw or "", "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


async def events(request: web.Request) -> web.Response:
    """End-of-session notification: stored once per sessionId for analytics, PINs in its input masked.

    The engine says which steps of the session were PINs while it remembers the session; after that, every
    PIN-shaped step is masked."""
    app = request.app
    check_token(request, app[appkeys.SETTINGS].webhook_token)
    form = await _form(request)
    session_id, status = form.get("sessionId", "").strip(), form.get("status", "").strip()
    if not session_id or not status:
        raise _bad("sessionId and status are required")
    currency, amount = parse_cost(form.get("cost", ""))
    secret = await app[appkeys.ENGINE].store.secret_steps(session_id)
    row = UssdSessionEvent(
        session_id=session_id[:128], msisdn=form.get("phoneNumber", "")[:20],
        service_code=form.get("serviceCode", "")[:40], network_code=form.get("networkCode", "")[:10],
        status=status[:20], cost_currency=currency, cost_amount=amount,
        duration_ms=_int_or_none(form.get("durationInMillis")), hops=_int_or_none(form.get("hopsCount")),
        input=mask_input(form.get("input", ""), secret), last_response=form.get("lastAppResponse", ""),
        error=form.get("errorMessage", ""), occurred_at=_when(form.get("date")))
    try:
        async with app[appkeys.DB]() as s, s.begin():
            s.add(row)
    except IntegrityError:
        log.info("session %s: duplicate end-of-session notification ignored", session_id)
    return web.Response(text="OK")


def routes() -> list[web.RouteDef]:
    return [web.post("/ussd/africastalking", ussd), web.post("/ussd/africastalking/events", events)]
