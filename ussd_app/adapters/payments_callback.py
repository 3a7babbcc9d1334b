"""`POST /payments/<provider>/callback`: a prompt to ask the provider, never a reason to credit by itself
(unless the provider signed it: see Payments.on_callback).

Unknown provider or reference: 404; a body we cannot read: 400; a forged hash or signature: 403; never a
5xx for the provider to retry forever (an exception on our side still answers 500, logged).
"""
from __future__ import annotations

import logging

from aiohttp import web

from payments.base import BadCallback, ForgedCallback
from ussd_app import appkeys
from ussd_app.adapters.auth import check_token

log = logging.getLogger(__name__)


async def callback(request: web.Request) -> web.Response:
    app = request.app
    check_token(request, app[appkeys.SETTINGS].webhook_token)
    payments, name = app[appkeys.PAYMENTS], request.match_info["provider"]
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
    return [web.post("/payments/{provider}/callback", callback), web.put("/payments/{provider}/callback", callback)]
