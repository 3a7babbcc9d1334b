"""The Rentals page (staff): power-bank rentals newest first, open and ended, filtered by state and station, one
page at a time; each with its renter (masked; admins and support follow it to the profile), station, bank,
times, cost (so far, or billed) and what the wallet still owes. Paged by keyset (?before=ID, ?after=ID: the
rentals older or newer than that one), as fast on the thousandth page as on the first."""
from __future__ import annotations

from aiohttp import web

from enerlectra import clock
from enerlectra.domain.stations import wire
from ussd_app import appkeys
from ussd_app.console import access, paging
from ussd_app.console import queries_rentals as q
from ussd_app.console import render

PATH = f"{access.PREFIX}/rentals"
NAV = ("Rentals", PATH, access.STAFF)
PROFILE_READERS = ("admin", "support")


def _station(request: web.Request) -> str:
    code = request.query.get("station", "").strip()
    if code and not wire.CODE.fullmatch(code):
        raise web.HTTPBadRequest(text="station must be a station's code (4 to 6 digits).\n")
    return code


@access.allow(*NAV[2])
async def rentals_page(request: web.Request) -> web.StreamResponse:
    filters = q.Filters(state=paging.choice(request, "state", q.STATES), station=_station(request))
    page = paging.keyset_of(request)
    async with request.app[appkeys.DB_READ]() as s:
        rows, ids = await q.listed(s, filters, page, clock.now())
    links = {1: "/console/users/{}"} if access.operator(request).role in PROFILE_READERS else {}
    table = render.Table("rentals", q.COLUMNS, rows, title="Rentals, newest first",
                         links={**links, 3: "/console/stations/{}"}, empty="No rentals match.")
    context = {"filters": filters, "states": q.STATES, "links": page.links(ids),
               "request_with": paging.linker(request)}
    return render.page(request, "rentals.html", context, table)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, rentals_page)]
