"""The optional shared secret every webhook carries: in the path (`/payments/<provider>/callback/<token>`),
in the query (`?token=`, the only place Africa's Talking can put it) or in the `X-Webhook-Token` header."""
from __future__ import annotations

import hmac

from aiohttp import web


def given_token(request: web.Request) -> str:
    """The token the caller sent, wherever it put it ("" when none)."""
    return (request.match_info.get("token") or request.query.get("token")
            or request.headers.get("X-Webhook-Token") or "")


def check_token(request: web.Request, expected: str | None) -> None:
    if not expected:
        return
    if not hmac.compare_digest(given_token(request).encode(), expected.encode()):
        raise web.HTTPForbidden(text="missing or wrong webhook token\n")
