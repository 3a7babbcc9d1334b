"""Where the rate limits apply: every webhook per source address, USSD per number, SMS per number, and the
status queries a payment's callbacks may trigger. The limits are settings; the limiter is
enerlectra/ratelimit.py.

Each check answers the way its caller needs: a webhook gets 429 with Retry-After; a phone gets an END
screen in its user's language with HTTP 200 (Africa's Talking shows nothing else); an SMS sender gets one
polite notice per hour, then silence; a callback over its budget is answered from SQL without asking the
provider (the reconciliation job still asks on its own schedule).
"""
from __future__ import annotations

import ipaddress
from typing import Awaitable, Callable, Literal

from aiohttp import web
from sqlalchemy import select

from enerlectra import i18n
from enerlectra.db.models import User
from enerlectra.domain import ledger
from enerlectra.i18n import _
from enerlectra.ratelimit import Allowed, Call, Rule
from enerlectra.ussd.types import UssdReply, UssdRequest
from ussd_app import appkeys
from ussd_app.adapters.auth import check_token
from ussd_app.engine.core import default_language

MINUTE, HOUR = 60, 3600
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def too_many_requests_text() -> str:
    return _("Too many requests. Please try again in a few minutes.")


def _refused(app: web.Application, kind: str) -> None:
    app[appkeys.METRICS].rate_limited.labels(kind).inc()


# -- webhooks, per source address ------------------------------------------------------------------

def trusted_networks(raw: str) -> tuple[Network, ...]:
    """TRUSTED_PROXIES: comma-separated addresses or CIDRs; anything else stops the app at start-up."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts)
    except ValueError as exc:
        raise SystemExit(f"TRUSTED_PROXIES must list addresses or CIDRs: {exc}") from None


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The peer's address; behind a trusted proxy, the right-most X-Forwarded-For hop it did not add itself
    (anything further left was written by the client and proves nothing)."""
    peer = request.remote or ""
    if not trusted or not _within(peer, trusted):       # no proxy trusted (the default): no address parsed
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


WEBHOOK_IP = web.RequestKey("webhook_ip_pending", str)     # a USSD hop's address, not counted yet


def webhook_limit(routes: list[web.RouteDef], trusted: tuple[Network, ...], open_routes: list[web.RouteDef],
                  tokens: dict[str, str | None] | None = None, hop_routes: list[str] = ()):
    """Middleware counting requests to these routes per client address per minute; over: 429 + Retry-After.
    The webhook token is checked first (403), except on `open_routes` (a meter's own secret authenticates it):
    requests without it spend no budget, so a forger cannot crowd out the aggregator sharing an address.
    `tokens`: a route's own token (a USSD aggregator's, USSD_<NAME>_TOKEN) instead of WEBHOOK_TOKEN.
    `hop_routes` (USSD hops): the address is counted with the number's limits in the session lock's round
    trip (`ussd_limits`), or by `address_refusal` before anything else the handler does; a request that
    reaches neither (refused by the edge guard, a number we do not serve) is counted here after it, and
    answered 429 when over, as if counted first: nothing it did moved anything."""
    paths, unguarded, deferred = {r.path for r in routes}, {r.path for r in open_routes}, set(hop_routes)
    own = tokens or {}

    @web.middleware
    async def limit(request: web.Request, handler):
        resource = request.match_info.route.resource
        if resource is None or resource.canonical not in paths:
            return await handler(request)
        app = request.app
        path = resource.canonical
        if path not in unguarded:
            check_token(request, own[path] if path in own else app[appkeys.SETTINGS].webhook_token)
        if path in deferred:
            request[WEBHOOK_IP] = client_ip(request, trusted)
            try:
                response = await handler(request)
            except web.HTTPException:
                refused = await address_refusal(request)
                if refused is not None:
                    return refused
                raise
            return await address_refusal(request) or response
        verdict = await app[appkeys.LIMITER].hit("webhook_ip", client_ip(request, trusted),
                                                 app[appkeys.SETTINGS].rate_webhook_per_ip, MINUTE)
        if verdict.ok:
            return await handler(request)
        return _too_many_from(app, verdict)
    return limit


def _too_many_from(app: web.Application, verdict: Allowed) -> web.Response:
    _refused(app, "webhook_ip")
    return web.Response(status=429, text="too many requests from this address\n",
                        headers={"Retry-After": str(verdict.retry_after)})


def _address_rule(request: web.Request) -> list[tuple[str, list[Rule]]]:
    """The address's hit, when the middleware left it to the handler and nobody counted it yet (then it is
    taken: it counts once)."""
    address = request.get(WEBHOOK_IP)
    if address is None:
        return []
    del request[WEBHOOK_IP]
    return [(address, [Rule("webhook_ip", request.app[appkeys.SETTINGS].rate_webhook_per_ip, MINUTE)])]


async def address_refusal(request: web.Request) -> web.Response | None:
    """A USSD hop route's address counted now, if it was not yet: None, or the 429."""
    groups = _address_rule(request)
    if not groups:
        return None
    verdict = await request.app[appkeys.LIMITER].hit_groups(groups)
    return None if verdict.ok else _too_many_from(request.app, verdict)


# -- USSD, per number ----------------------------------------------------------------------------

def ussd_limits(request: web.Request, req: UssdRequest) -> Call | None:
    """The hop's limits, for the engine to check in its lock's round trip (store.RateLimited when over): its
    address first (when the middleware left it here), then its number. A session counts once (its id is the
    member), a hop once (a retransmission names the same member)."""
    settings = request.app[appkeys.SETTINGS]
    hop = ledger.keyed_digest("hop-limit", f"{req.session_id}\n{req.hop}")     # AT's hop id holds PINs
    return request.app[appkeys.LIMITER].prepare(_address_rule(request) + [(req.msisdn, [
        Rule("ussd_session", settings.rate_ussd_sessions_per_msisdn, 10 * MINUTE, member=req.session_id),
        Rule("ussd_hop", settings.rate_ussd_hops_per_msisdn, MINUTE, member=hop)])])


async def ussd_refusal(request: web.Request, req: UssdRequest, verdict: Allowed) -> UssdReply | web.Response:
    """What a refused hop gets: the 429 (its address is over) or the END screen in its user's language (its
    number is)."""
    app = request.app
    if verdict.kind == "webhook_ip":
        return _too_many_from(app, verdict)
    _refused(app, verdict.kind)
    async with app[appkeys.DB_READ]() as s:
        language = await s.scalar(select(User.language).where(User.msisdn == req.msisdn))
    with i18n.language(language or default_language(req.country)):
        return UssdReply(too_many_requests_text(), end=True)


# -- SMS, per number -----------------------------------------------------------------------------

SmsVerdict = Literal["answer", "notice", "silent", "drop"]


async def sms_verdict(app: web.Application, msisdn: str, provider_id: str) -> SmsVerdict:
    """answer: run the command and reply; notice: store it and send the one 'too many' of this hour;
    silent: store it, reply nothing; drop: over the hour's inbound budget, not even stored.
    A message the aggregator sends again (the same id) counts once."""
    settings, limiter = app[appkeys.SETTINGS], app[appkeys.LIMITER]
    kept = await limiter.hit("sms_in", msisdn, settings.rate_sms_in_per_msisdn, HOUR, member=provider_id)
    if not kept.ok:
        _refused(app, "sms_in")
        return "drop"
    answered = await limiter.hit("sms_reply", msisdn, settings.rate_sms_replies_per_msisdn, HOUR,
                                 member=provider_id)
    if answered.ok:
        return "answer"
    _refused(app, "sms_reply")
    return "notice" if (await limiter.hit("sms_notice", msisdn, 1, HOUR)).ok else "silent"


# -- payment status queries, per payment -----------------------------------------------------------

def status_query_gate(app: web.Application) -> Callable[[str], Awaitable[bool]]:
    """For Payments.may_ask: may one more callback for this reference make us ask the provider?"""
    async def may_ask(reference: str) -> bool:
        verdict = await app[appkeys.LIMITER].hit("status_query", reference,
                                                 app[appkeys.SETTINGS].rate_status_queries_per_payment, HOUR)
        if not verdict.ok:
            _refused(app, "status_query")
        return verdict.ok
    return may_ask
