"""The Payments page: payments filtered by provider, state, direction and currency (newest first, paged); the
review queue (what `enerlectra payments review` lists) with resolve paid / unpaid for admins, which is
`enerlectra payments resolve` itself (Payments.resolve: audited, once); stuck and ambiguous payments; today's
reconciliation counts."""
from __future__ import annotations

from aiohttp import web

from enerlectra.domain import outbox
from enerlectra.domain.money import format_money
from enerlectra.domain.payment_states import STATES
from enerlectra.redact import mask_msisdn
from payments.service import NotUnderReview
from ussd_app import appkeys
from ussd_app.console import access, paging
from ussd_app.console import queries_payments as q
from ussd_app.console import render

PATH = f"{access.PREFIX}/payments"
NAV = ("Payments", PATH, access.STAFF)
RESOLVERS = ("admin",)                   # money actions: admins only
PROFILE_READERS = ("admin", "support")   # who may follow a payment to its user's profile
REVIEW_LIMIT = 200
OUTCOMES = ("paid", "unpaid")


def _flash(request: web.Request) -> str:
    """What the last resolve did, from the redirect's query (only known states are named)."""
    reference, state = request.query.get("resolved", ""), request.query.get("result", "")
    if not reference or state not in (*STATES, "unknown"):
        return ""
    if request.query.get("refused"):
        if state == "unknown":
            return f"No payment has reference {reference}; nothing changed."
        return f"{reference} is {state} already: only a payment under review can be resolved; nothing changed."
    return f"{reference} resolved: {state}. The user's SMS goes out with the next outbox sweep."


@access.allow(*NAV[2])
async def payments_page(request: web.Request) -> web.StreamResponse:
    filters = q.Filters(**{name: paging.choice(request, name, allowed) for name, allowed in q.ALLOWED.items()})
    page, settings = paging.page_of(request), request.app[appkeys.SETTINGS]
    moment = outbox.now()
    async with request.app[appkeys.DB_READ]() as s:
        rows = await q.listed(s, filters, page)
        stuck = await q.stuck(s, moment, settings.payment_expire_minutes)
        summary = await q.today_by_state(s, moment)
    review = await request.app[appkeys.PAYMENTS].under_review(REVIEW_LIMIT)
    queue = [(p.reference, paging.stamp(p.created_at), p.provider, p.direction, mask_msisdn(p.msisdn),
              format_money(p.amount + (p.fee if p.direction == "collection" else 0), p.currency), p.reason or "")
             for p in review]
    links = {9: "/console/users/{}"} if access.operator(request).role in PROFILE_READERS else {}
    tables = [
        render.Table("review", ["reference", "created", "provider", "direction", "number", "charged", "why"],
                     queue, title="Under review (oldest first)", empty="Nothing waits for review."),
        render.Table("payments", q.LIST_COLUMNS, rows, title=f"Payments, newest first (page {page.number})",
                     links=links, empty="No payments match."),
        render.Table("stuck", q.LIST_COLUMNS, stuck, links=links, empty="Nothing stuck.",
                     title=f"Stuck: ambiguous, or pending over {settings.payment_expire_minutes} minutes"),
        render.Table("today", ["provider", "direction", "currency", "state", "payments", "amount"], summary,
                     title="Reconciliation today (UTC), by provider and state", empty="No payments today."),
    ]
    context = {"filters": filters, "allowed": q.ALLOWED, "page": page, "has_next": len(rows) == page.size,
               "may_resolve": access.operator(request).role in RESOLVERS, "flash": _flash(request),
               "request_with": paging.linker(request)}
    return render.page(request, "payments.html", context, *tables)


@access.allow(*RESOLVERS)
async def resolve(request: web.Request) -> web.StreamResponse:
    reference = request.match_info["reference"]
    outcome = str((await request.post()).get("outcome", ""))
    if outcome not in OUTCOMES:
        raise web.HTTPBadRequest(text="outcome must be paid or unpaid.\n")
    payments = request.app[appkeys.PAYMENTS]
    try:
        state, refused = await payments.resolve(reference, outcome == "paid", access.operator(request).actor), ""
    except NotUnderReview as exc:
        state, refused = str(exc), "1"
    query = {"resolved": reference, "result": state, **({"refused": refused} if refused else {})}
    raise web.HTTPSeeOther(str(request.app.router["console_payments"].url_for().with_query(query)))


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, payments_page, name="console_payments"),
            web.post(PATH + "/{reference}/resolve", resolve)]
