"""The optional shared secret every webhook carries (`?token=` or `X-Webhook-Token`)."""
from __future__ import annotations

import hmac

from aiohttp import web


def check_token(request: web.Request, expected: str | None) -> None:
    if not expected:
        return
    given = request.query.get("token") or request.headers.get("X-Webhook-Token") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HTTPForbidden(text="missing or wrong webhook token\n")
