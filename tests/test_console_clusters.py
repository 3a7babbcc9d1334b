"""The Clusters and Carbon pages: a chair sees their own cluster only; the figures are the carbon report's;
an admin's meter baseline reset is audited once; every table exports."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry, Cluster, Meter
from tests.console_helpers import operator_client
from tests.test_carbon import world  # noqa: F401 (the fixture: users, trades, meters, three clusters)
from ussd_app import appkeys


async def rows(client, path: str) -> list[dict]:
    resp = await client.get(path)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv"), await resp.text()
    return list(csv.DictReader(io.StringIO(await resp.text())))


@pytest.mark.parametrize("role", ["admin", "support", "viewer"])
async def test_staff_see_every_cluster(client, world, role):    # noqa: F811
    _people, clusters = world
    await operator_client(client, role)
    listed = {r["code"]: r for r in await rows(client, "/console/clusters?format=csv")}
    assert set(listed) == {c.code for c in clusters.values()}
    assert {r["carbon baseline"] for r in listed.values()} == {"grid", "diesel", "kerosene"}
    for c in clusters.values():
        assert (await client.get(f"/console/clusters/{c.code}")).status == 200


async def test_a_chair_sees_only_their_cluster(client, world):    # noqa: F811
    _people, clusters = world
    own, other = clusters["grid"], clusters["diesel"]
    await operator_client(client, "chair", cluster=own.code)
    landing = await client.get("/console/clusters", allow_redirects=False)
    assert landing.status == 302 and landing.headers["Location"] == f"/console/clusters/{own.code}"
    page = await client.get(f"/console/clusters/{own.code}")
    assert page.status == 200 and 'id="co2">1.0 kg<' in await page.text()     # 3,000 Wh x 334 g/kWh
    for path in (f"/console/clusters/{other.code}", f"/console/clusters/{other.code}?format=csv&table=members",
                 "/console/carbon", "/console/overview", "/console/audit"):
        assert (await client.get(path)).status == 403, path


async def test_the_cluster_page_shows_its_carbon_and_members(client, world):    # noqa: F811
    _people, clusters = world
    await operator_client(client, "viewer")
    html = await (await client.get(f"/console/clusters/{clusters['diesel'].code}")).text()
    assert 'id="co2">8.0 kg<' in html and "diesel 800 g/kWh" in html    # 10,000 Wh as a member, on diesel
    members = await rows(client, f"/console/clusters/{clusters['diesel'].code}?format=csv&table=members")
    assert [m["name"] for m in members] == ["Chanda"] and "*" in members[0]["number"]   # masked


async def test_the_carbon_page_per_country(client, world):    # noqa: F811
    await operator_client(client, "viewer")
    got = {r["country"]: r for r in await rows(client, "/console/carbon?format=csv&table=countries")}
    assert set(got) == {"ZM", "TZ"}
    assert "grid ZM 334 g/kWh" in got["ZM"]["basis"] and "diesel" in got["ZM"]["basis"]
    factors = {r["baseline"]: int(r["g CO2 per kWh"]) for r in
               await rows(client, "/console/carbon?format=csv&table=factors")}
    assert factors["grid ZM"] == 334 and factors["grid TZ"] == 458
    assert (await client.get("/console/carbon?span=week")).status == 400


async def audit_rows(client) -> list[AuditEntry]:
    async with client.app[appkeys.DB_READ]() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == "meter.reset_baseline"))).all())


async def test_an_admin_resets_a_meter_baseline_once(client, world):    # noqa: F811
    _people, clusters = world
    csrf = await operator_client(client, "admin")
    back = f"/console/clusters/{clusters['grid'].code}"
    for flash in ("reset", "already-waiting"):            # posted twice: the second changes nothing
        resp = await client.post("/console/meters/MTR-ZM-1/reset-baseline", data={"csrf": csrf, "back": back},
                                 allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == f"{back}?done={flash}-MTR-ZM-1"
    [row] = await audit_rows(client)
    assert row.actor == "admin@example.com" and row.target == "meter:MTR-ZM-1"
    async with client.app[appkeys.DB_READ]() as s:
        assert await s.scalar(select(Meter.last_export_wh).where(Meter.number == "MTR-ZM-1")) is None
    assert (await client.post("/console/meters/NOPE/reset-baseline", data={"csrf": csrf})).status == 404


@pytest.mark.parametrize("role", ["support", "viewer"])
async def test_only_an_admin_resets_a_baseline(client, world, role):    # noqa: F811
    csrf = await operator_client(client, role)
    resp = await client.post("/console/meters/MTR-ZM-1/reset-baseline", data={"csrf": csrf})
    assert resp.status == 403 and await audit_rows(client) == []


async def test_a_reset_without_the_csrf_token_is_refused(client, world):    # noqa: F811
    await operator_client(client, "admin")
    resp = await client.post("/console/meters/MTR-ZM-1/reset-baseline", data={})
    assert resp.status == 403 and await audit_rows(client) == []


@pytest.mark.parametrize("role, baseline, status", [("admin", "kerosene", 303), ("admin", "coal", 400),
                                                     ("support", "kerosene", 403), ("viewer", "diesel", 403)])
async def test_setting_a_clusters_carbon_baseline(client, world, role, baseline, status):    # noqa: F811
    _people, clusters = world
    grid = clusters["grid"]
    csrf = await operator_client(client, role)
    for _ in range(2):                                     # set twice: one change, one audit row
        resp = await client.post(f"/console/clusters/{grid.code}/baseline", data={"csrf": csrf, "baseline": baseline},
                                 allow_redirects=False)
        assert resp.status == status
    async with client.app[appkeys.DB_READ]() as s:
        now = await s.scalar(select(Cluster.carbon_baseline).where(Cluster.id == grid.id))
        audited = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "cluster.baseline"))).all()
    assert now == (baseline if status == 303 else "grid") and len(audited) == (1 if status == 303 else 0)
