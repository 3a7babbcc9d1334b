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
from sqlalchemy.exc import IntegrityError

from enerlectra.db.models import UssdSessionEvent
from enerlectra.domain.phone import parse_msisdn
from enerlectra.redact import mask_input
from enerlectra.ussd.types import UssdReply
from ussd_app import appkeys
from ussd_app.adapters.bounds import FORMS, at_time, whole
from ussd_app.aggregators.contract import Aggregator, Hop, Notice
from ussd_app.aggregators.view import session_over_reply
from ussd_app.engine import paths

log = logging.getLogger(__name__)


class AfricasTalking(Aggregator):
    name = "africastalking"
    body = "form"
    fields = FORMS["/ussd/africastalking"]
    path_rule = paths.CUMULATIVE

    def session_id(self, raw: str) -> str:
        return raw

    def parse(self, body: dict[str, Any]) -> Hop | Notice:
        number = parse_msisdn(body["phoneNumber"])                 # present: bounds.FORMS requires it
        return Hop(session_id=self.session_id(body["sessionId"].strip()), msisdn=number.e164,
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


async def _form(request: web.Request) -> dict[str, str]:
    """The form guards.edge_guard parsed and held to bounds.FORMS (one text value per field)."""
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


async def events(request: web.Request) -> web.Response:
    """End-of-session notification: stored once per sessionId for analytics, PINs in its input masked.

    The engine says which steps of the session were PINs while it remembers the session; after that, every
    PIN-shaped step is masked. (The token was checked by ratelimits.webhook_limit: AT's own.)"""
    app = request.app
    form = await _form(request)
    session_id, status = form["sessionId"].strip(), form["status"].strip()      # required by bounds.FORMS
    currency, amount = parse_cost(form.get("cost", ""))
    secret = await app[appkeys.ENGINE].store.secret_steps(session_id)
    await app[appkeys.ENGINE].store.close(session_id, session_over_reply)      # a late hop gets an END
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
