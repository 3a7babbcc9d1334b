"""The SMS page: the outbox (text, status, segments, cost, kind; filtered by status, kind and number; paged;
CSV), and for admins a broadcast to a cluster's active members or a segment (country, language): a preview
with the recipients (STOP excluded), segments and the estimated cost, then a confirm that queues one outbox row
each, once per broadcast (sms/broadcast.py)."""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

from aiohttp import web

from enerlectra.domain import outbox
from enerlectra.domain.phone import COUNTRIES, as_typed
from enerlectra.i18n import LANGUAGES
from sms import broadcast
from ussd_app import appkeys
from ussd_app.console import access, paging
from ussd_app.console import queries_sms as q
from ussd_app.console import render

PATH = f"{access.PREFIX}/sms"
NAV = ("SMS", PATH, access.STAFF)
BROADCASTERS = ("admin",)
PRICE_DAYS = 30                       # the estimate's segment price: the average over these days
_KIND = re.compile(r"^[a-z0-9_-]{1,40}$")
_BROADCAST_ID = re.compile(r"^[0-9a-f]{32}$")
_CLUSTER = re.compile(r"^[A-Z0-9]{1,8}$")


def _filters(request: web.Request) -> q.Filters:
    status = paging.choice(request, "status", q.STATUSES)
    kind = request.query.get("kind", "").strip()
    if kind and not _KIND.match(kind):
        raise web.HTTPBadRequest(text="kind is a word like receipt or broadcast.\n")
    typed = request.query.get("number", "").strip()
    numbers = tuple(m.e164 for m in as_typed(typed)) if typed else ()
    if typed and not numbers:
        raise web.HTTPBadRequest(text="number is not a phone number we serve (Zambia, Tanzania).\n")
    return q.Filters(status, kind, numbers)


def _flash(request: web.Request) -> str:
    queued, sent_id = request.query.get("queued", ""), request.query.get("broadcast", "")
    if not (queued.isascii() and queued.isdigit()) or not _BROADCAST_ID.match(sent_id):
        return ""
    if queued == "0":
        return f"Broadcast {sent_id[:8]} was queued before: nothing queued twice."
    return f"Broadcast {sent_id[:8]} queued to {queued} people; they go out with the workers."


@access.allow(*NAV[2])
async def sms_page(request: web.Request) -> web.StreamResponse:
    filters, page = _filters(request), paging.page_of(request)
    async with request.app[appkeys.DB_READ]() as s:
        rows = await q.listed(s, filters, page)
        kinds = await q.kinds(s)
    table = render.Table("outbox", q.COLUMNS, rows, title=f"Outbox, newest first (page {page.number})",
                         empty="No SMS match.")
    context = {"statuses": q.STATUSES, "kinds": kinds, "page": page, "has_next": len(rows) == page.size,
               "may_broadcast": access.operator(request).role in BROADCASTERS, "flash": _flash(request),
               "countries": sorted(COUNTRIES), "languages": LANGUAGES, "request_with": paging.linker(request)}
    return render.page(request, "sms.html", context, table)


def _audience(form) -> broadcast.Audience:
    """The audience a form (preview query or confirm post) names; a 400 in one line when it names none."""
    kind = str(form.get("audience", ""))
    if kind == "cluster":
        code = str(form.get("cluster", "")).strip().upper()
        if not _CLUSTER.match(code):
            raise web.HTTPBadRequest(text="Type the cluster's code, like K7Q2M.\n")
        return broadcast.Audience(cluster=code)
    if kind == "segment":
        country, language = str(form.get("country", "")), str(form.get("language", ""))
        if country not in ("", *COUNTRIES) or language not in ("", *LANGUAGES):
            raise web.HTTPBadRequest(text=f"country is one of {', '.join(COUNTRIES)}; language one of "
                                          f"{', '.join(LANGUAGES)} (or any).\n")
        return broadcast.Audience(country=country, language=language)
    raise web.HTTPBadRequest(text="Pick the audience: a cluster or a segment.\n")


def _text(form) -> str:
    return str(form.get("text", "")).replace("\r\n", "\n").strip()


def _refused(exc: broadcast.BadBroadcast) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f"{exc}\n")


@access.allow(*BROADCASTERS)
async def preview(request: web.Request) -> web.StreamResponse:
    audience, text = _audience(request.query), _text(request.query)
    async with request.app[appkeys.DB_READ]() as s:
        try:
            found = await broadcast.preview(s, audience, text)
        except broadcast.BadBroadcast as exc:
            raise _refused(exc) from None
        prices = await q.segment_prices(s, outbox.now() - timedelta(days=PRICE_DAYS))
    costs = [(currency, f"{price * found.segments * found.recipients:.2f}", f"{price:.4f}")
             for currency, price in sorted(prices.items())]
    context = {"audience": audience, "text": text, "found": found, "costs": costs, "price_days": PRICE_DAYS,
               "broadcast_id": secrets.token_hex(16)}
    return render.page(request, "sms_preview.html", context)


@access.allow(*BROADCASTERS)
async def confirm(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    audience, text, broadcast_id = _audience(form), _text(form), str(form.get("broadcast_id", ""))
    if not _BROADCAST_ID.match(broadcast_id):
        raise web.HTTPBadRequest(text="Start from the preview: this confirm names no broadcast.\n")
    try:
        queued = await broadcast.send(request.app[appkeys.DB], audience, text, broadcast_id,
                                      access.operator(request).actor)
    except broadcast.BadBroadcast as exc:
        raise _refused(exc) from None
    raise web.HTTPSeeOther(f"{PATH}?broadcast={broadcast_id}&queued={queued}")


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, sms_page), web.get(PATH + "/broadcast", preview), web.post(PATH + "/broadcast", confirm)]
