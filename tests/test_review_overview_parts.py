"""Attack review of 2db1da4 (the Overview's parts at once, a connection each): a part that fails must not leave
the others running on connections of their own after the page has answered, and one page view must not take the
read pool that every USSD screen reads through (app[DB_READ]: PostgreSQL's default 5 + 10 connections)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select

from enerlectra.reports.overview import PARTS_AT_ONCE, overview
from ussd_app import appkeys


class Broken(Exception):
    pass


async def test_a_failing_part_stops_the_others_before_the_page_answers(client):
    db = client.app[appkeys.DB_READ]
    running: set[int] = set()
    calls: list = []

    async def carbon(db_, period):      # two calls (the period, the one before): the first fails, the other reads on
        me = len(calls)
        calls.append(period)
        running.add(me)
        try:
            async with db_() as s:
                await s.execute(select(1))
                if me == 0:
                    await asyncio.sleep(0.05)
                    raise Broken()
                await asyncio.sleep(0.5)
            return 0
        finally:
            running.discard(me)

    with pytest.raises(Broken):
        await overview(db, 7, carbon=carbon)
    assert running == set()      # nothing of this page still holds a connection or runs a query


async def test_one_page_view_takes_a_few_read_connections_not_the_pool(client):
    engine = client.app[appkeys.DB_READ_ENGINE]
    out, peak = [0], [0]

    def checkout(*_):
        out[0] += 1
        peak[0] = max(peak[0], out[0])

    def checkin(*_):
        out[0] -= 1
    event.listen(engine.sync_engine.pool, "checkout", checkout)
    event.listen(engine.sync_engine.pool, "checkin", checkin)

    async def carbon(db_, period):
        async with db_() as s:
            await s.execute(select(1))
        return 0
    try:
        await overview(client.app[appkeys.DB_READ], 30, carbon=carbon)
    finally:
        event.remove(engine.sync_engine.pool, "checkout", checkout)
        event.remove(engine.sync_engine.pool, "checkin", checkin)
    assert 1 <= peak[0] <= PARTS_AT_ONCE
