"""The Stations pages (staff): every station with online/offline, last heartbeat, charged banks free, free slots
and faulted slots; the alerts that stand now (offline stations, banks out with no rental, unknown ejects) and
the logged alerts and incidents. One station: its slots and banks, open eject requests, its log. An admin adds a
maintenance note: fleet.record_note, what `enerlectra stations note` does (audited as station.note)."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from enerlectra import clock
from enerlectra.db.models import Station
from enerlectra.domain.stations import fleet, wire
from ussd_app import appkeys
from ussd_app.console import access
from ussd_app.console import queries_stations as q
from ussd_app.console import render

PATH = f"{access.PREFIX}/stations"
NAV = ("Stations", PATH, access.STAFF)
NOTERS = ("admin",)
NOTE_MAX = 200
LOG_LIMIT = 100


@access.allow(*NAV[2])
async def station_list(request: web.Request) -> web.StreamResponse:
    async with request.app[appkeys.DB_READ]() as s:
        rows = await q.listed(s, request.app[appkeys.SETTINGS].rental_min_soc)
        standing = await q.alerts_now(s)
        logged = q.logged_alerts(await fleet.alerts(s, LOG_LIMIT))
    tables = [
        render.Table("stations", q.LIST_COLUMNS, rows, links={0: PATH + "/{}"}, title="Stations",
                     empty="No stations yet: `enerlectra stations add`."),
        render.Table("alerts", q.ALERT_COLUMNS, standing, links={2: PATH + "/{}"}, title="Alerts now",
                     empty="Nothing stands: every station online, every bank in a slot or rented."),
        render.Table("logged", ["when", "kind", "station", "bank", "detail"], logged, links={2: PATH + "/{}"},
                     title="Logged alerts, incidents and offline lines, newest first", empty="Nothing logged."),
    ]
    return render.page(request, "stations.html", {}, *tables)


async def _station(session, code: str) -> Station:
    st = await session.scalar(select(Station).where(Station.code == code)) if wire.CODE.fullmatch(code) else None
    if st is None:
        raise web.HTTPNotFound(text=f"No station {code[:10]!r}.\n")
    return st


@access.allow(*NAV[2])
async def station_page(request: web.Request) -> web.StreamResponse:
    async with request.app[appkeys.DB_READ]() as s:
        st = await _station(s, request.match_info["code"])
        [view] = await fleet.views(s, request.app[appkeys.SETTINGS].rental_min_soc, code=st.code)
        tables = [
            render.Table("slots", ["slot", "slot state", "fault", "bank", "soc %", "health %", "bank state"],
                         await q.slots(s, st.id), title="Slots and banks"),
            render.Table("alerts", q.ALERT_COLUMNS, await q.alerts_now(s, st.id), title="Alerts now",
                         empty="Nothing stands at this station."),
            render.Table("ejects", ["issued", "request", "slot", "bank", "rental", "state", "expires"],
                         await q.open_ejects(s, st.id), title="Open eject requests", empty="No open ejects."),
            render.Table("log", ["when", "kind", "slot", "bank", "detail", "by"],
                         q.log_rows(await fleet.log_of(s, st.code, LOG_LIMIT)),
                         title="Log (faults, alerts, incidents, notes), newest first", empty="Nothing logged yet."),
        ]
    context = {"station": st, "view": view, "may_note": access.operator(request).role in NOTERS,
               "note_max": NOTE_MAX, "flash": "Note added to the log." if request.query.get("done") == "noted" else ""}
    return render.page(request, "station.html", context, *tables)


@access.allow(*NOTERS)
async def add_note(request: web.Request) -> web.StreamResponse:
    form = await access.read_form(request)
    text = " ".join(str(form.get("text", "")).split())
    bank = str(form.get("bank", "")).strip().upper() or None
    if not text:
        raise web.HTTPBadRequest(text="Write the note (what was done, what was seen).\n")
    if len(text) > NOTE_MAX or not text.isprintable():
        raise web.HTTPBadRequest(text=f"The note: {NOTE_MAX} printable characters at most.\n")
    if bank is not None and not (len(bank) <= 20 and bank.isascii() and bank.isalnum()):
        raise web.HTTPBadRequest(text="The bank: its serial as printed on it (PB...), or nothing.\n")
    code = request.match_info["code"]
    async with request.app[appkeys.DB]() as s, s.begin():
        await _station(s, code)
        try:
            await fleet.record_note(s, access.operator(request).actor, code, text, clock.now(), bank)
        except LookupError:
            raise web.HTTPBadRequest(text=f"No bank {bank!r}: nothing was noted.\n") from None
    raise web.HTTPSeeOther(f"{PATH}/{code}?done=noted")


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, station_list), web.get(PATH + "/{code}", station_page),
            web.post(PATH + "/{code}/note", add_note)]
