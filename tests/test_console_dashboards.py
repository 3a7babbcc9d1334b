"""The Overview and Funnel pages: who may open them, what they show for sessions folded from Redis, their CSV."""
from __future__ import annotations

import csv
import io
import time

import pytest

from enerlectra.ussd.ends import SessionEnd, ends_key
from tests.console_helpers import operator_client
from tests.test_console_access import _cluster
from ussd_app import appkeys
from workers import analytics

PAGES = ["/console/overview", "/console/funnel"]

# (session, language, country, screens reached, end reason)
SESSIONS = [
    ("a", "en", "ZM", ["main_menu", "wallet_menu", "wallet_sendto"], "done"),
    ("b", "en", "ZM", ["main_menu", "wallet_menu", "wallet_sendto"], "hangup"),
    ("c", "sw", "TZ", ["main_menu", "wallet_menu"], "timeout"),
    ("d", "sw", "TZ", ["main_menu", "trade_menu"], "error"),
    ("e", "bem", "ZM", ["main_menu"], "done"),
]


async def fold_sessions(client, sessions=SESSIONS) -> None:
    app = client.app
    prefix, now = app[appkeys.SETTINGS].redis_prefix, time.time()
    ends = [SessionEnd.of(session_id=f"console-{sid}", aggregator="africastalking", msisdn=f"+26097100000{i}",
                          user_id=None, country=country, language=lang, screens=screens, last_screen=screens[-1],
                          reason=reason, hops=len(screens), ended_at=now)
            for i, (sid, lang, country, screens, reason) in enumerate(sessions)]
    await app[appkeys.REDIS].rpush(ends_key(prefix), *[e.dump() for e in ends])
    assert await analytics.fold(app[appkeys.DB], app[appkeys.REDIS], prefix) == len(sessions)


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
@pytest.mark.parametrize("path", PAGES)
async def test_dashboards_by_role(client, role, status, path):
    await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)
    assert (await client.get(path)).status == status


async def rows(client, path: str) -> list[dict]:
    resp = await client.get(path)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(await resp.text())))


async def test_the_funnel_counts_what_was_folded(client):
    await operator_client(client, "viewer")
    await fold_sessions(client)
    page = await client.get("/console/funnel")
    assert page.status == 200 and "<svg" in await page.text()
    got = {r["screen"]: r for r in await rows(client, "/console/funnel?format=csv&table=funnel")}
    assert int(got["main_menu"]["reached"]) == 5 and int(got["main_menu"]["ended done"]) == 1
    assert int(got["wallet_menu"]["reached"]) == 3 and int(got["wallet_menu"]["ended timeout"]) == 1
    assert (int(got["wallet_sendto"]["ended done"]), int(got["wallet_sendto"]["ended hangup"])) == (1, 1)
    assert int(got["trade_menu"]["ended error"]) == 1
    countries = {r["country"]: int(r["sessions"]) for r in
                 await rows(client, "/console/funnel?format=csv&table=countries")}
    assert countries == {"ZM": 3, "TZ": 2}


@pytest.mark.parametrize("query, sessions", [("language=sw", 2), ("country=ZM", 3), ("language=bem&country=TZ", 0)])
async def test_the_funnel_filters(client, query, sessions):
    await operator_client(client, "viewer")
    await fold_sessions(client)
    got = {r["screen"]: int(r["reached"]) for r in
           await rows(client, f"/console/funnel?{query}&format=csv&table=funnel")}
    assert got.get("main_menu", 0) == sessions


async def test_the_overview_counts_sessions_and_draws_charts(client):
    await operator_client(client, "admin")
    await fold_sessions(client)
    page = await client.get("/console/overview?days=1")
    html = await page.text()
    assert page.status == 200 and html.count("<svg") == 3
    series = await rows(client, "/console/overview?days=1&format=csv&table=series")
    assert [int(r["sessions"]) for r in series] == [5]
    seven = await rows(client, "/console/overview?days=7&format=csv&table=series")
    assert len(seven) == 7 and sum(int(r["sessions"]) for r in seven) == 5


@pytest.mark.parametrize("path", ["/console/overview?days=2", "/console/funnel?days=abc",
                                  "/console/funnel?language=xx", "/console/funnel?country=US"])
async def test_a_bad_filter_gets_one_line(client, path):
    await operator_client(client, "viewer")
    resp = await client.get(path)
    assert resp.status == 400 and (await resp.text()).count("\n") == 1


@pytest.mark.parametrize("path, tables", [("/console/overview", ["money", "traded", "series"]),
                                          ("/console/funnel", ["funnel", "languages", "countries"])])
async def test_every_table_exports_csv_with_its_header(client, path, tables):
    await operator_client(client, "viewer")
    html = await (await client.get(path)).text()
    for table in tables:
        assert f"table={table}" in html
        resp = await client.get(f"{path}?format=csv&table={table}")
        assert resp.status == 200 and next(csv.reader(io.StringIO(await resp.text())))
