"""Logging in and out. The login form carries a CSRF token of its own (a cookie and a field that must match),
attempts are limited per address (CONSOLE_LOGINS_PER_IP a minute), and an account locks after
CONSOLE_LOGIN_MAX_FAILURES wrong passwords in a row (enerlectra/domain/operators.py)."""
from __future__ import annotations

import logging
import secrets

from aiohttp import web

from enerlectra.domain import operators
from ussd_app import appkeys
from ussd_app.adapters import ratelimits
from ussd_app.console import access, render

log = logging.getLogger(__name__)
LOGIN_CSRF = "enx_login_csrf"
REFUSED = ("Wrong email or password, or the account is locked after too many wrong passwords "
           "(wait, or ask an admin).")
HOME = {"chair": f"{access.PREFIX}/clusters"}           # where each role lands; others: the overview


def home_of(who: operators.Who) -> str:
    return HOME.get(who.role, f"{access.PREFIX}/overview")


def _next(request: web.Request, who: operators.Who) -> str:
    return access.local_path(request.query.get("next"), access.PREFIX, home_of(who))


def _form(request: web.Request, message: str = "", status: int = 200) -> web.StreamResponse:
    token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
    response = render.page(request, "login.html", {"message": message, "login_csrf": token}, status=status)
    access.set_cookie(request, response, LOGIN_CSRF, token, 3600)
    return response


async def show(request: web.Request) -> web.StreamResponse:
    return _form(request)


async def submit(request: web.Request) -> web.StreamResponse:
    app, settings = request.app, request.app[appkeys.SETTINGS]
    form = await access.read_form(request)
    if not access.csrf_ok(str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF, "")):
        return _form(request, "The form expired: please try again.", status=403)
    address = ratelimits.client_ip(request, ratelimits.trusted_networks(settings.trusted_proxies))
    verdict = await app[appkeys.LIMITER].hit("console_login", address, settings.console_logins_per_ip, 60)
    if not verdict.ok:
        return _form(request, f"Too many attempts: wait {verdict.retry_after} s.", status=429)
    result = await operators.login(app[appkeys.DB], str(form.get("email", "")), str(form.get("password", "")),
                                   cost=settings.console_kdf_cost, max_failures=settings.console_login_max_failures,
                                   lock_minutes=settings.console_lock_minutes)
    if result.who is None:
        log.info("console login refused from %s", address)          # never the email or password typed
        # One answer for every refusal: a lock said only for real accounts would tell which emails exist.
        return _form(request, REFUSED, status=403)
    found = web.HTTPFound(_next(request, result.who))
    await access.start(request, found, result.who)
    found.del_cookie(LOGIN_CSRF, path=access.PREFIX)
    raise found


async def logout(request: web.Request) -> web.StreamResponse:
    found = web.HTTPFound(f"{access.PREFIX}/login")
    await access.end(request, found)
    raise found


async def me(request: web.Request) -> web.StreamResponse:
    """Who is logged in (any role): the account page."""
    return render.page(request, "me.html", {})


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(home_of(access.operator(request)))


def routes() -> list[web.RouteDef]:
    return [web.get(f"{access.PREFIX}/login", show), web.post(f"{access.PREFIX}/login", submit),
            web.post(f"{access.PREFIX}/logout", logout), web.get(access.PREFIX, root),
            web.get(f"{access.PREFIX}/me", me),
            web.get(f"{access.PREFIX}/", root)]
