"""The console's Stations and Rentals pages (issue 20): who sees them (staff; chairs 403), every table's CSV,
the alerts that stand (a station offline, a bank gone with no rental, an unknown eject) on the list and on the
station's page, slots and banks, the admin's maintenance note (CSRF, audited as the CLI's station.note), the
rentals with their filters and on the renter's profile. Stations and rentals made by the real station and
rental code (tests/rentals_helpers.py)."""
from __future__ import annotations

import csv
import io
import json

import pytest

from enerlectra.domain.money import format_money
from enerlectra.domain.rentals import service
from enerlectra.domain.stations import fleet
from tests.console_helpers import operator_client
from tests.console_seeds import audit_rows
from tests.rentals_helpers import Shop
from tests.test_console_access import _cluster
from ussd_app import appkeys

RENTER = "+260971520001"
PAGES = ["/console/stations", "/console/stations/5201", "/console/rentals"]


@pytest.fixture
async def shop(database, settings, monkeypatch):
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


async def _fleet(shop) -> dict:
    """5201: a rental out (active); 5202: offline, and a bank that left slot 2 with no eject; 5203: an eject
    nobody answered (unknown), and slot 2 faulted."""
    cab = await shop.station("5201", slots=4, banks=2)
    user = await shop.renter(RENTER, 50_000)
    rented = await shop.rent(user, "5201", "hop:console:1")
    await shop.eject_result(cab, rented.ref)
    other = await shop.station("5202", slots=3, banks=2)
    other.banks[2] = None
    await shop.world.apply(other.hb(), shop.now)
    await shop.world.apply(other.status(False), shop.now)
    late = await shop.station("5203", slots=2, banks=1)
    late.faults[2] = "lock_motor"
    await shop.world.apply(late.hb(), shop.now)
    waiting = await shop.renter("+260971520002", 50_000)
    unknown = await shop.rent(waiting, "5203", "hop:console:2")
    shop.t = 40
    await shop.world.sweep(shop.now)
    return {"user": user, "rented": rented, "cab": cab, "late": late, "unknown": unknown}


async def _csv(client, path: str, table: str) -> list[dict]:
    resp = await client.get(f"{path}{'&' if '?' in path else '?'}format=csv&table={table}")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv"), await resp.text()
    return list(csv.DictReader(io.StringIO(await resp.text())))


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
async def test_the_pages_by_role(client, shop, role, status):
    await shop.station("5201", slots=2, banks=1)
    await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)
    for path in PAGES:
        assert (await client.get(path)).status == status, path
    assert (await client.get("/console/stations?format=csv&table=alerts")).status == status
    nav = await (await client.get("/console/me")).text()
    assert ('href="/console/stations"' in nav, 'href="/console/rentals"' in nav) == (status == 200,) * 2


async def test_the_list_the_alerts_and_a_station_with_an_alert(client, shop):
    seeded = await _fleet(shop)
    await operator_client(client, "viewer")
    stations = {r["code"]: r for r in await _csv(client, "/console/stations", "stations")}
    assert {c: (r["state"], r["charged banks free"], r["free slots"], r["faults"]) for c, r in stations.items()} == {
        "5201": ("online", "1", "3", "0"), "5202": ("offline", "1", "2", "0"), "5203": ("online", "0", "0", "1")}
    assert [(r["slot"], r["fault"]) for r in await _csv(client, "/console/stations/5203", "slots")] == [
        ("1", ""), ("2", "lock_motor")]
    alerts = {(r["what"], r["station"], r["bank"]) for r in await _csv(client, "/console/stations", "alerts")}
    assert alerts == {("station offline", "5202", ""), ("bank missing", "5202", "PB520202"),
                      ("eject unknown", "5203", "PB520301")}
    logged = await _csv(client, "/console/stations", "logged")
    assert any(r["kind"] == "alert" and r["bank"] == "PB520202" for r in logged)
    page = await (await client.get("/console/stations/5202")).text()
    assert "station offline" in page and "PB520202" in page and "bank missing" in page
    assert (await _csv(client, "/console/stations/5201", "alerts")) == []         # the rented bank is no alert
    slots = await _csv(client, "/console/stations/5201", "slots")
    assert [(r["slot"], r["bank"], r["bank state"]) for r in slots][2:] == [("3", "", ""), ("4", "", "")]
    assert sorted(r["bank state"] for r in slots[:2]) == ["", "available"]
    ejects = await _csv(client, "/console/stations/5203", "ejects")
    assert [(r["rental"], r["state"]) for r in ejects] == [(seeded["unknown"].ref, "unknown")]
    assert [r["kind"] for r in await _csv(client, "/console/stations/5202", "log")][:1] == ["offline"]


@pytest.mark.parametrize("path, status", [("/console/stations/99999", 404), ("/console/stations/abc", 404),
                                          ("/console/rentals?state=gone", 400),
                                          ("/console/rentals?station=12", 400),
                                          ("/console/stations?format=csv&table=nope", 404)])
async def test_bad_addresses_get_a_line_not_a_traceback(client, shop, path, status):
    await operator_client(client, "viewer")
    resp = await client.get(path)
    assert resp.status == status and "Traceback" not in await resp.text()


async def test_an_admin_notes_maintenance_audited_as_the_cli_is(client, shop):
    await shop.station("5201", slots=2, banks=1)
    csrf = await operator_client(client, "admin")
    note = {"text": "slot 2   lock cleaned", "bank": "pb520101"}
    assert (await client.post("/console/stations/5201/note", data=note, allow_redirects=False)).status == 403
    resp = await client.post("/console/stations/5201/note", data={**note, "csrf": csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/stations/5201?done=noted"
    async with client.app[appkeys.DB_READ]() as s:
        [(line, serial)] = [row for row in await fleet.log_of(s, "5201") if row[0].kind == "note"
                            and row[0].author != "station"]
    assert (line.detail, line.author, serial) == ("slot 2 lock cleaned", "admin@example.com", "PB520101")
    [entry] = await audit_rows(client.app, "station.note")
    assert (entry.actor, entry.target, json.loads(entry.after)) == (
        "admin@example.com", "station:5201", {"note": "slot 2 lock cleaned", "bank": "PB520101"})
    log = await _csv(client, "/console/stations/5201", "log")
    assert log[0]["detail"] == "slot 2 lock cleaned" and log[0]["by"] == "admin@example.com"


@pytest.mark.parametrize("form, status", [({"text": ""}, 400), ({"text": "x" * 201}, 400),
                                          ({"text": "ok", "bank": "PB999999"}, 400),
                                          ({"text": "ok", "bank": "PB 1; drop"}, 400)])
async def test_a_bad_note_is_refused_and_nothing_is_noted(client, shop, form, status):
    await shop.station("5201", slots=2, banks=1)
    csrf = await operator_client(client, "admin")
    resp = await client.post("/console/stations/5201/note", data={**form, "csrf": csrf}, allow_redirects=False)
    assert resp.status == status and "Traceback" not in await resp.text()
    assert await audit_rows(client.app, "station.note") == []


@pytest.mark.parametrize("role", ["support", "viewer"])
async def test_only_admins_note(client, shop, role):
    await shop.station("5201", slots=2, banks=1)
    csrf = await operator_client(client, role)
    assert 'action="/console/stations/5201/note"' not in await (await client.get("/console/stations/5201")).text()
    resp = await client.post("/console/stations/5201/note", data={"text": "hi", "csrf": csrf})
    assert resp.status == 403 and await audit_rows(client.app, "station.note") == []


async def test_an_unknown_station_gets_no_note(client, shop):
    csrf = await operator_client(client, "admin")
    resp = await client.post("/console/stations/5999/note", data={"text": "hi", "csrf": csrf})
    assert resp.status == 404 and await audit_rows(client.app, "station.note") == []


@pytest.mark.parametrize("query, refs", [("", {"rented", "unknown"}), ("state=active", {"rented"}),
                                         ("state=ejecting", {"unknown"}), ("state=returned", set()),
                                         ("station=5203", {"unknown"}), ("station=5201&state=active", {"rented"}),
                                         ("station=5202", set())])
async def test_rentals_filtered_and_masked(client, shop, query, refs):
    seeded = await _fleet(shop)
    await operator_client(client, "support")
    rows = await _csv(client, f"/console/rentals?{query}", "rentals")
    assert {r["ref"] for r in rows} == {seeded[name].ref for name in refs}
    assert all(r["number"].startswith("'+26097****") for r in rows)        # masked; the CSV quotes a leading +
    assert RENTER not in await (await client.get(f"/console/rentals?{query}")).text()


async def test_a_rental_shows_its_cost_so_far_then_its_bill_and_on_the_profile(client, shop):
    seeded = await _fleet(shop)
    await operator_client(client, "admin")
    shop.t = 90 * 60
    mine = await service.current(shop.db, seeded["user"])          # what the renter's own screen says
    assert mine.cost_so_far > 0
    [row] = await _csv(client, "/console/rentals?state=active", "rentals")
    assert (row["station"], row["bank"], row["cost"], row["owed"]) == (
        "5201", seeded["rented"].bank_serial, f"{format_money(mine.cost_so_far, 'ZMW')} so far", "")
    shop.t = 2 * 3600
    await shop.give_back(seeded["cab"], seeded["rented"].bank_serial)
    [row] = await _csv(client, "/console/rentals?state=returned", "rentals")
    assert row["cost"].endswith(" billed") and row["returned to"] == "5201"
    profile = f"/console/users/{seeded['user'].id}"
    assert [r["ref"] for r in await _csv(client, profile, "rentals")] == [seeded["rented"].ref]
    assert "Power-bank rentals" in await (await client.get(profile)).text()


async def test_a_bank_its_renter_lost_is_billed_not_an_alert(client, shop):
    seeded = await _fleet(shop)
    await operator_client(client, "viewer")
    await service.report_lost(shop.db, seeded["user"], "hop:console:lost")
    [row] = await _csv(client, "/console/rentals?state=lost", "rentals")
    assert row["ref"] == seeded["rented"].ref and row["cost"].endswith(" billed")
    alerts = await _csv(client, "/console/stations", "alerts")
    assert seeded["rented"].bank_serial not in {r["bank"] for r in alerts}


async def test_an_incident_is_listed_with_its_station(client, shop):
    cab = await shop.station("5204", slots=2, banks=1)
    user = await shop.renter("+260971520004", 50_000)
    view = await shop.rent(user, "5204", "hop:console:4")
    assert await shop.eject_result(cab, view.ref, ok=False, reason="lock_motor") == "failed"
    assert await shop.eject_result(cab, view.ref) == "incident"        # the station now says it came out
    await operator_client(client, "viewer")
    [incident] = [r for r in await _csv(client, "/console/stations", "logged") if r["kind"] == "incident"]
    assert incident["station"] == "5204" and "check the slot and the rental" in incident["detail"]
    assert "check the slot and the rental" in await (await client.get("/console/stations/5204")).text()
