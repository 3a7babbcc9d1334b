"""Africa's Talking USSD: form POST in, `CON `/`END ` text/plain out (protocols.md section 1).

`text` is every input so far joined by '*' (the path is cumulative), and it is also the hop id: a retry of
the hop sends the same text, so today's money keys stay what they were. A first hop's non-empty text is a
dial-string shortcut's parts. The end-of-session notification comes to its own URL (`/ussd/africastalking/events`).
"""
from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from enerlectra.db.models import UssdSessionEvent
from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from enerlectra.redact import mask_input
from enerlectra.ussd.types import UssdReply
from ussd_app import appkeys
from ussd_app.adapters.bounds import FORMS, at_time, bad, whole
from ussd_app.aggregators.contract import Aggregator, Hop, Notice
from ussd_app.aggregators.view import close_on_notice, record_notice
from ussd_app.engine import paths

log = logging.getLogger(__name__)


class AfricasTalking(Aggregator):
    name = "africastalking"
    enabled_by_default = True
    body = "form"
    fields = FORMS["/ussd/africastalking"]
    path_rule = paths.CUMULATIVE

    def session_id(self, raw: str) -> str:
        return _session_id(raw)

    def parse(self, body: dict[str, Any]) -> Hop | Notice:
        number = parse_msisdn(body["phoneNumber"])                 # present: bounds.FORMS requires it
        return Hop(session_id=self.session_id(body["sessionId"]), msisdn=number.e164,
                   country=number.country, text=body.get("text", ""), service_code=body.get("serviceCode", ""),
                   network_code=body.get("networkCode", ""), path_rule=self.path_rule, aggregator=self.name)

    def render(self, reply: UssdReply, body: dict[str, Any]) -> web.Response:
        return web.Response(text=reply.wire, content_type="text/plain")

    def extra_routes(self) -> list[web.RouteDef]:
        return [web.post("/ussd/africastalking/events", events)]


_COST = re.compile(r"^\s*(?:([A-Z]{3})\s+)?(-?\d+(?:\.\d+)?)\s*$")


def parse_cost(raw: str) -> tuple[str | None, str | None]:
    """AT sends the session cost as "0.10" or "KES 0.10": keep the currency and the decimal text."""
    match = _COST.match(raw or "")
    return (match.group(1), match.group(2)) if match else (None, None)


# AT ends a session at 180 s (protocols.md s.1); an Incomplete session that lasted about that long timed out.
NETWORK_TIMEOUT_MS = 175_000


def end_reason(status: str, duration_ms: int | None) -> str:
    """AT's status of a session still live here (we did not END it): Failed = error; Incomplete = the user
    hung up, or the network's timeout when its duration reached it; Success without our END: the user left."""
    if status == "Failed":
        return "error"
    if status == "Incomplete" and duration_ms is not None and duration_ms >= NETWORK_TIMEOUT_MS:
        return "timeout"
    return "hangup"


async def _form(request: web.Request) -> dict[str, str]:
    """The form guards.edge_guard parsed and held to bounds.FORMS (one text value per field)."""
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


async def events(request: web.Request) -> web.Response:
    """End-of-session notification: stored once per sessionId for analytics, PINs in its input masked.

    The engine says which steps of the session were PINs while it remembers the session; after that, every
    PIN-shaped step is masked. (The token was checked by ratelimits.webhook_limit: AT's own.)"""
    app = request.app
    form = await _form(request)
    session_id, status = _session_id(form["sessionId"]), form["status"].strip()   # required by bounds.FORMS
    msisdn = _e164(form.get("phoneNumber", ""))
    currency, amount = parse_cost(form.get("cost", ""))
    try:
        secret = await app[appkeys.ENGINE].store.secret_steps(session_id)
    except Exception:   # Redis down: every PIN-shaped step is masked
        log.exception("session %s: PIN steps not read for its end event", session_id)
        secret = None
    reason = end_reason(status, whole(form.get("durationInMillis")))
    if not await close_on_notice(app, session_id, msisdn, AfricasTalking.name, reason):   # a late hop: an END
        return web.Response(text="OK")
    row = UssdSessionEvent(
        session_id=session_id, msisdn=msisdn, service_code=form.get("serviceCode", ""),
        network_code=form.get("networkCode", ""), status=status, cost_currency=currency, cost_amount=amount,
        duration_ms=whole(form.get("durationInMillis")), hops=whole(form.get("hopsCount")),
        input=mask_input(form.get("input", ""), secret), last_response=form.get("lastAppResponse", ""),
        error=form.get("errorMessage", ""), occurred_at=at_time(form.get("date")))
    await record_notice(app, row)
    return web.Response(text="OK")


# The shape of the others' namespaced session ids (`hubtel:...`: an aggregator's name is a lower-case word).
NAMESPACED = re.compile(r"([a-z][a-z0-9]*):")


def _session_id(raw: str) -> str:
    """AT's session ids stay bare (its money keys are what they always were; AT's own are `ATUid_...`), so one
    shaped like another aggregator's namespaced id could reach that session: a 400."""
    sid = raw.strip()
    namespaced = NAMESPACED.match(sid)
    if namespaced:
        raise bad("bad_value", f"sessionId may not start with '{namespaced.group(1)}:' (another aggregator)")
    return sid


def _e164(raw: str) -> str:
    """The event's number as the session keeps it (E.164); as sent when it does not parse."""
    try:
        return parse_msisdn(raw).e164 if raw.strip() else ""
    except (InvalidMsisdn, UnsupportedCountry):
        return raw.strip()
