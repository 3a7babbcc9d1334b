"""Africa's Talking SMS webhooks: incoming messages and delivery reports (protocols.md section 2).

Both are form POSTs behind the optional shared secret, held to bounds.FORMS; a malformed one gets a one-line
400.
AT retries on anything but 2xx, so known-but-useless reports (an id we never sent) still get 200.
"""
from __future__ import annotations

import logging

from aiohttp import web

from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from sms import flood
from sms.delivery import Report, apply_report
from sms.inbound import InboundSms, receive
from ussd_app import appkeys
from ussd_app.adapters.auth import check_token
from ussd_app.adapters.bounds import bad
from ussd_app.adapters.ratelimits import sms_verdict
from ussd_app.aggregators.africastalking import _form

log = logging.getLogger(__name__)


async def inbound(request: web.Request) -> web.Response:
    app = request.app
    check_token(request, app[appkeys.SETTINGS].webhook_token)
    form = await _form(request)
    provider_id, sender, text = form["id"].strip(), form["from"].strip(), form.get("text")  # bounds.FORMS
    if text is None:                    # an empty SMS is an SMS; a missing field is not
        raise bad("missing_field", "text is required")
    try:
        number = parse_msisdn(sender)
    except InvalidMsisdn as exc:
        raise bad("bad_number", str(exc)) from None
    except UnsupportedCountry:
        log.info("inbound SMS %s from a country we do not serve: no reply", provider_id)
        return web.Response(text="OK")
    sms = InboundSms(provider_id=provider_id, number=number, text=text, to=form.get("to", ""),
                     link_id=form.get("linkId") or None, network_code=form.get("networkCode", ""))
    verdict = await sms_verdict(app, number.e164, provider_id)
    if verdict == "drop":                   # past the hour's inbound budget: AT gets its 200, we keep nothing
        return web.Response(text="OK")
    if verdict == "answer":           # its follow-ups are enqueued by its unit of work
        await receive(app[appkeys.DB], sms, app[appkeys.SETTINGS])
    else:
        await flood.keep_unanswered(app[appkeys.DB], sms, notice=verdict == "notice")
    return web.Response(text="OK")


async def delivery(request: web.Request) -> web.Response:
    app = request.app
    check_token(request, app[appkeys.SETTINGS].webhook_token)
    form = await _form(request)
    message_id, status = form["id"].strip(), form["status"].strip()          # required by bounds.FORMS
    report = Report(message_id, status, form.get("failureReason", "").strip())
    outcome = await apply_report(app[appkeys.DB], report)
    if outcome in ("unknown-message", "unknown-status"):
        log.warning("delivery report %s (%s): %s", message_id, status, outcome)
    return web.Response(text=outcome)


def routes() -> list[web.RouteDef]:
    return [web.post("/sms/africastalking/inbound", inbound), web.post("/sms/africastalking/delivery", delivery)]
