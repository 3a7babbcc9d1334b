"""Who may see what: console sessions (Redis), the guard in front of every /console page, roles, CSRF.

A session is a random token in an HttpOnly, SameSite=Strict cookie; Redis keeps only the token's SHA-256
(a leaked dump names no live cookie) with the operator's id and the session's CSRF token. It ends after
CONSOLE_SESSION_MINUTES idle or CONSOLE_SESSION_MAX_HOURS in all, or at logout. The operator's row is read on
every request, so a role change or a disabled account applies at once.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from redis.exceptions import RedisError

from enerlectra.domain import operators
from ussd_app import appkeys
from ussd_app.adapters import ratelimits

COOKIE = "enx_console"
PREFIX = "/console"
OPEN_PATHS = {f"{PREFIX}/login"}
OPERATOR = web.RequestKey("console_operator", operators.Who)
CSRF = web.RequestKey("console_csrf", str)
STAFF = ("admin", "support", "viewer")            # everyone but chairs
EVERYONE = (*STAFF, "chair")

# Console pages hold numbers and names: never cached (the back button after logout shows nothing), never
# sniffed as anything but what they say, never framed.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "frame-ancestors 'none'", "Referrer-Policy": "same-origin"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _key(request: web.Request, token: str) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"{request.app[appkeys.SETTINGS].redis_prefix}console:s:{digest}"


def secure(request: web.Request) -> bool:
    """Cookies are Secure behind TLS: our own, or a trusted proxy's (X-Forwarded-Proto from TRUSTED_PROXIES)."""
    if request.secure:
        return True
    trusted = ratelimits.trusted_networks(request.app[appkeys.SETTINGS].trusted_proxies)
    proxied = trusted and ratelimits.client_ip(request, trusted) != (request.remote or "")
    return bool(proxied) and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:
    """max_age None: a browser-session cookie (gone when the browser closes; Redis decides expiry anyway)."""
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="Strict",
                        secure=secure(request))


async def start(request: web.Request, response: web.StreamResponse, who: operators.Who) -> None:
    """A new token at every login; the session the browser had (if any) ends, so no copy of it lives on."""
    settings = request.app[appkeys.SETTINGS]
    old = request.cookies.get(COOKIE)
    if old and len(old) <= 100:
        await request.app[appkeys.REDIS].delete(_key(request, old))
    token = secrets.token_urlsafe(32)
    # The email too: on SQLite a deleted operator's id goes to the next one made, who must not inherit this.
    record = {"op": who.id, "email": who.email, "mark": who.mark, "csrf": secrets.token_urlsafe(24),
              "until": time.time() + settings.console_session_max_hours * 3600}
    await request.app[appkeys.REDIS].set(_key(request, token), json.dumps(record),
                                         ex=settings.console_session_minutes * 60)
    set_cookie(request, response, COOKIE, token)


async def end(request: web.Request, response: web.StreamResponse) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await request.app[appkeys.REDIS].delete(_key(request, token))
    response.del_cookie(COOKIE, path=PREFIX)


async def _session(request: web.Request) -> dict | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    redis, settings = request.app[appkeys.REDIS], request.app[appkeys.SETTINGS]
    key = _key(request, token)
    raw = await redis.get(key)
    if raw is None:
        return None
    record = json.loads(raw)
    if time.time() > record["until"]:
        await redis.delete(key)
        return None
    await redis.expire(key, settings.console_session_minutes * 60)      # idle time counts from now
    return record


def csrf_ok(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


async def read_form(request: web.Request):
    """The posted form; one that cannot be read (bytes not in its charset, an unknown charset, a broken
    multipart body) is a 400 in one line, not a 500."""
    try:
        return await request.post()
    except (ValueError, LookupError):          # UnicodeDecodeError is a ValueError
        raise web.HTTPBadRequest(text="The form could not be read: send it as UTF-8.\n") from None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /console page but the login wants a live session; every POST wants the session's CSRF token.
    Sessions live in Redis: while it does not answer, the console says so (503), not a traceback."""
    path = request.path
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        return await handler(request)
    try:
        response = await (handler(request) if path in OPEN_PATHS else _guarded(request, handler))
    except RedisError:
        raise web.HTTPServiceUnavailable(text="The console cannot reach Redis (its sessions): try again in a "
                                              "minute.\n", headers={"Retry-After": "30", **HEADERS}) from None
    except web.HTTPException as answer:         # 403/404 lines and redirects too
        answer.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    record = await _session(request)
    who = await operators.who(request.app[appkeys.DB_READ], record["op"]) if record else None
    # Gone, disabled, or a new password since this session began (operators.set_password ends older sessions).
    if who is None or who.email != record.get("email") or who.mark != record.get("mark"):
        if request.method != "GET":
            raise web.HTTPUnauthorized(text="Log in first.\n")
        raise web.HTTPFound(f"{PREFIX}/login?next={_safe_next(request.path_qs)}")
    if request.method not in ("GET", "HEAD"):
        form = await read_form(request)
        if not csrf_ok(form.get("csrf") or request.headers.get("X-CSRF-Token"), record["csrf"]):
            raise web.HTTPForbidden(text="CSRF token missing or wrong: reload the page and try again.\n")
    request[OPERATOR], request[CSRF] = who, record["csrf"]
    return await handler(request)


def local_path(wanted: object, under: str, default: str) -> str:
    """`wanted` when it is a path of ours below `under` (the ?next= after login, a form's `back`), else
    `default`: never an absolute URL, a //host, a backslash (browsers read it as /) or a control character."""
    text = str(wanted or "")
    if text.startswith(under.rstrip("/") + "/") and not text.startswith("//") and "\\" not in text \
            and text.isprintable():
        return text
    return default


def _safe_next(path_qs: str) -> str:
    return quote(path_qs, safe="")


def allow(*roles: str) -> Callable[[Handler], Handler]:
    """Only these roles reach the handler; anyone else gets 403."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            if request[OPERATOR].role not in roles:
                raise web.HTTPForbidden(text="Your role may not open this page.\n")
            return await handler(request)
        checked.roles = roles           # the nav shows a page to the roles it allows
        return checked
    return wrap


def operator(request: web.Request) -> operators.Who:
    return request[OPERATOR]
