"""The console's cluster queries (enerlectra/reports/clusters.py) on a cluster built through the domain:
members with masked numbers, the pool and contributions by day, proposals with yes / no / not voted, the
active members' meters with their newest reading and flagged ones. Plus the number mask as a table."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from enerlectra.domain import meters, wallet
from enerlectra.domain.clusters import members as clubs
from enerlectra.domain.clusters import proposals
from enerlectra.domain.work import unit_of_work
from enerlectra.redact import mask_msisdn
from enerlectra.reports import clusters as report
from tests.test_carbon import SECRET, WIDE, add_user
from ussd_app import appkeys

CHAIR, MEMBER, QUIET, GONE = "+260971970001", "+260961970002", "+260951970003", "+260971970004"


@pytest.mark.parametrize("msisdn, shown", [("+260971234567", "+26097****567"), ("+255712345678", "+25571****678"),
                                           ("+2609", "****"), ("", "****")])
def test_mask_msisdn(msisdn, shown):
    assert mask_msisdn(msisdn) == shown


async def _reading(db, serial: str, export_wh: int, when: datetime) -> str:
    async with unit_of_work(db) as s:
        return (await meters.record(s, meters.Reading(serial, export_wh, 0, when), SECRET, WIDE, now=when)).status


@pytest.fixture
async def club(client):
    db = client.app[appkeys.DB]
    people = {n: await add_user(db, n, name) for n, name in
              ((CHAIR, "Bwalya"), (MEMBER, "Chanda"), (QUIET, "Mutale"), (GONE, "Kasonde"))}
    for n in (CHAIR, MEMBER):
        await wallet.credit(db, f"test:fund:{n}", people[n], "ZMW", 100_000, "test")
    async with unit_of_work(db) as s:
        made = await clubs.create(s, people[CHAIR], "Kabwe Solar", "micro", "Kabwe", 50_000, True)
        for n in (MEMBER, QUIET, GONE):
            await clubs.add_member(s, made, people[n])
    async with unit_of_work(db) as s:
        await clubs.contribute(s, "test:c1", people[CHAIR], 20_000)
        await clubs.contribute(s, "test:c2", people[MEMBER], 5_000)
        await clubs.contribute(s, "test:c2", people[MEMBER], 5_000)          # a retry: counted once
        await clubs.leave(s, people[GONE])
    async with unit_of_work(db) as s:
        voted = await proposals.open_(s, made, people[CHAIR], "target", title="target", amount=60_000)
        await proposals.open_(s, made, people[MEMBER], "target", title="target", amount=40_000)
    async with unit_of_work(db) as s:
        await proposals.vote(s, people[CHAIR], voted.proposal.id, "yes")
        await proposals.vote(s, people[MEMBER], voted.proposal.id, "no")
    now = datetime.now(timezone.utc)
    async with unit_of_work(db) as s:
        for n, serial in ((CHAIR, "MTR-A"), (MEMBER, "MTR-B"), (GONE, "MTR-GONE")):
            await meters.register(s, people[n], serial, SECRET, 1_000, 0, now=now - timedelta(hours=5))
    assert await _reading(db, "MTR-A", 3_000, now - timedelta(hours=4)) == "credited"
    assert await _reading(db, "MTR-A", 500, now - timedelta(hours=3)) == "flagged"
    assert await _reading(db, "MTR-GONE", 0, now - timedelta(hours=3)) == "flagged"   # not this cluster's now
    return made, now


async def test_members_with_masked_numbers(client, club):
    made, _now = club
    async with client.app[appkeys.DB]() as s:
        rows = await report.members(s, made.id)
    assert [(m.name, m.number, m.role, m.status, m.contributed) for m in rows] == [
        ("Bwalya", "+26097****001", "chair", "active", 20_000), ("Chanda", "+26096****002", "member", "active", 5_000),
        ("Mutale", "+26095****003", "member", "active", 0), ("Kasonde", "+26097****004", "member", "left", 0)]


async def test_pool_and_contributions_by_day(client, club):
    made, now = club
    async with client.app[appkeys.DB]() as s:
        pool = await report.pool_balance(s, made)
        days = await report.contributions(s, made)
        later = await report.contributions(s, made, since=now + timedelta(days=1))
    assert pool == 25_000
    assert [(d.amount, d.count) for d in days] == [(25_000, 2)]
    assert days[0].day in {(now - timedelta(minutes=5)).date(), now.date()}
    assert later == []


async def test_proposals_with_votes(client, club):
    made, _now = club
    async with client.app[appkeys.DB]() as s:
        rows = await report.proposals(s, made.id)
    # three active members when both opened: #2 has no votes, #1 one yes and one no (still open)
    assert [(p.number, p.state, p.yes, p.no, p.not_voted, p.amount) for p in rows] == [
        (2, "open", 0, 0, 3, 40_000), (1, "open", 1, 1, 1, 60_000)]


async def test_meters_of_active_members_and_flagged_readings(client, club):
    made, now = club
    async with client.app[appkeys.DB]() as s:
        rows = await report.meters(s, made.id)
        flagged = await report.flagged(s, made.id)
    assert [(m.serial, m.owner, m.number, m.export_wh, m.credited_wh, m.flagged, m.latest_status) for m in rows] == [
        ("MTR-A", "Bwalya", "+26097****001", 3_000, 2_000, 1, "flagged"),
        ("MTR-B", "Chanda", "+26096****002", 1_000, 0, 0, "baseline")]
    assert abs(rows[0].last_read_at - (now - timedelta(hours=4))) < timedelta(seconds=1)
    assert [(f.serial, f.number, f.export_wh, f.reason) for f in flagged] == [
        ("MTR-A", "+26097****001", 500, "backwards")]
