"""Keyset pages (the Rentals list, paging.Keyset) and the alerts list (fleet.alerts, each kind's newest from its
index): walking older from the newest page and back newer visits every row once, in order, whatever the ids and
the page size; the alerts are the newest alert/incident/offline lines by (created_at, id), ties included, as
`kind IN (...) ORDER BY` read them; a bad cursor is a line, not a traceback."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select

from enerlectra.db.models import StationLog
from enerlectra.domain.stations import fleet, journal
from tests.console_helpers import operator_client
from ussd_app import appkeys
from ussd_app.console.paging import Keyset

rows = Table("rows", MetaData(), Column("id", Integer, primary_key=True))


def _page(conn, keyset: Keyset) -> list[int]:
    return keyset.rows([r.id for r in conn.execute(keyset.apply(select(rows.c.id), rows.c.id))])


@settings(max_examples=60, deadline=None)
@given(ids=st.sets(st.integers(1, 10_000), max_size=40), size=st.integers(1, 7))
def test_walking_older_then_newer_visits_every_row_once_in_order(ids, size):
    engine = create_engine("sqlite://")
    rows.metadata.create_all(engine)
    with engine.begin() as conn:
        if ids:
            conn.execute(rows.insert(), [{"id": i} for i in ids])
        pages, keyset = [], Keyset(size=size)
        while True:                                     # older and older, as the pager's links go
            shown = _page(conn, keyset)
            pages.append(shown)
            links = keyset.links(shown)
            if "older" not in links:
                break
            keyset = Keyset(before=links["older"], size=size)
        back = [pages[-1]]
        while "newer" in keyset.links(back[-1]):        # and back, newer and newer
            keyset = Keyset(after=keyset.links(back[-1])["newer"], size=size)
            back.append(_page(conn, keyset))
    walked = [i for page in pages for i in page]
    assert walked == sorted(ids, reverse=True)
    assert all(len(page) <= size for page in pages)
    assert [i for page in reversed(back) for i in page] == walked      # the same rows, none twice
    assert len(back) <= len(pages) + 1                  # at most one empty page past either end


@pytest.mark.parametrize("limit", [1, 3, 10, 50, 500])
async def test_the_alerts_are_the_newest_alert_incident_offline_lines_ties_included(client, limit):
    db, rng = client.app[appkeys.DB], random.Random(limit)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    async with db() as s, s.begin():
        for n in range(300):                            # a few seconds apart: many lines share a created_at
            journal.note(s, rng.choice(journal.KINDS), f"line {n}", start + timedelta(seconds=rng.randint(0, 40)))
    async with db() as s:
        every = (await s.execute(select(StationLog.id, StationLog.kind, StationLog.created_at))).all()
        found = [line.id for line, _code, _serial in await fleet.alerts(s, limit)]
    wanted = sorted((r for r in every if r.kind in fleet.ALERT_KINDS), key=lambda r: (r.created_at, r.id),
                    reverse=True)
    assert found == [r.id for r in wanted[:limit]] and found


@pytest.mark.parametrize("query", ["before=abc", "after=-1", "before=1&after=2", "after=1.5",
                                   f"before={2**63}", "before=%EF%BC%91"])
async def test_a_bad_cursor_gets_a_line_not_a_traceback(client, query):
    await operator_client(client, "viewer")
    resp = await client.get(f"/console/rentals?{query}")
    assert resp.status == 400 and "Traceback" not in (text := await resp.text()) and len(text) < 120, text
