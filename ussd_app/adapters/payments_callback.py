"""`POST /payments/<provider>/callback/<token>`: a prompt to ask the provider, never a reason to credit by itself
(unless the provider signed it: see Payments.on_callback).

Unknown provider or reference: 404; a body we cannot read: 400; a forged hash or signature: 403; never a
5xx for the provider to retry forever (an exception on our side still answers 500, logged).

The token moved from `?token=` into the path; the old form (and the header) stay accepted, because payments
in flight carry the URL they were started with and the Airtel, pawaPay and AzamPay portals keep theirs
until an operator edits them. A callback that still uses the query says so in a warning.
"""
from __future__ import annotations

import logging

from aiohttp import web

from enerlectra.redact import redact_path
from payments.providers.base import BadCallback, ForgedCallback
from payments.setup import callback_url
from ussd_app import appkeys
from ussd_app.adapters.auth import check_token

log = logging.getLogger(__name__)


async def callback(request: web.Request) -> web.Response:
    app = request.app
    settings = app[appkeys.SETTINGS]
    check_token(request, settings.webhook_token)
    payments, name = app[appkeys.PAYMENTS], request.match_info["provider"]
    if settings.webhook_token and "token" in request.query:     # the old form: accepted, see above
        log.warning("payment callback from %s: token in the query; point the provider at %s", name,
                    redact_path(callback_url(settings, name)))
    provider = payments.providers.get(name)
    if provider is None:
        raise web.HTTPNotFound(text="unknown provider\n")
    counted = app[appkeys.METRICS].payment_callbacks
    body = await request.read()
    try:
        prompt = await provider.parse_callback(body, dict(request.headers))
    except ForgedCallback as exc:
        counted.labels(name, "forged").inc()
        log.warning("payment callback from %s refused: %s", name, exc)
        raise web.HTTPForbidden(text=f"{exc}\n") from None
    except BadCallback as exc:
        counted.labels(name, "unreadable").inc()
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    state = await payments.on_callback(name, prompt)
    if state == "unknown":
        counted.labels(name, "unknown_reference").inc()
        raise web.HTTPNotFound(text="unknown reference\n")
    counted.labels(name, state).inc()
    log.info("payment %s: callback said %s%s; now %s", prompt.reference, prompt.claimed,
             " (signed)" if prompt.verified else "", state)
    return web.json_response({"state": state})


def routes() -> list[web.RouteDef]:
    paths = ("/payments/{provider}/callback/{token}", "/payments/{provider}/callback")
    return [route(path, callback) for path in paths for route in (web.post, web.put)]
