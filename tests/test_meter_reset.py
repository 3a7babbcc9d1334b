"""An operator resets a meter's baseline after a swap (issue 19): the next reading is the new baseline and the
jump credits nothing; a second reset while one waits changes nothing; stragglers from before it are refused.
Readings go through the real `POST /meters/readings`; the books verify after each case."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry, Meter, MeterReading
from enerlectra.domain import meters
from tests.test_market import balances
from tests.test_meters import OWNER, SECRET, SERIAL, _cli, add_meter, books_ok, reading, timed
from tests.test_wallet import register
from ussd_app import appkeys


@dataclass
class Step:
    hours: float                          # after registration
    reset: bool = False                   # an operator's reset at that time, else a reading:
    export_wh: int = 0
    import_wh: int = 0
    status: int | str = 200               # the HTTP status of a reading, or "changed"/"unchanged" for a reset


@dataclass
class Case:
    label: str
    steps: list[Step]
    energy: int                           # the owner's Wh after all steps
    statuses: list[str] = field(default_factory=list)      # the meter_readings rows after the baseline, in order


OLD = (50_000, 1_000)                     # the old meter's registers at registration
CASES = [
    Case("without a reset the new meter's low registers are flagged (the contrast)",
         [Step(1, export_wh=51_000, import_wh=1_000), Step(3, export_wh=200, import_wh=5, status=202)],
         1_000, ["credited", "flagged"]),
    Case("after a reset the next reading is the baseline: nothing credited for the jump",
         [Step(1, export_wh=51_000, import_wh=1_000), Step(2, reset=True, status="changed"),
          Step(3, export_wh=200, import_wh=5), Step(4, export_wh=700, import_wh=5)],
         1_500, ["credited", "baseline", "credited"]),
    Case("a second reset while one waits is harmless",
         [Step(2, reset=True, status="changed"), Step(2.5, reset=True, status="unchanged"),
          Step(3, export_wh=200), Step(4, export_wh=900)], 700, ["baseline", "credited"]),
    Case("a straggler from the old meter dated before the reset is refused",
         [Step(2, reset=True, status="changed"), Step(1.5, export_wh=52_000, import_wh=1_000, status=409),
          Step(3, export_wh=100), Step(5, export_wh=400)], 300, ["baseline", "credited"]),
    Case("a big jump up from the new meter's baseline is still held to the caps",
         [Step(2, reset=True, status="changed"), Step(3, export_wh=0), Step(4, export_wh=90_000, status=202)],
         0, ["baseline", "flagged"]),
    Case("a second swap later: reset again, a new baseline again",
         [Step(1, reset=True, status="changed"), Step(2, export_wh=10), Step(3, export_wh=1_010),
          Step(4, reset=True, status="changed"), Step(5, export_wh=3), Step(6, export_wh=503)],
         1_500, ["baseline", "credited", "baseline", "credited"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_reset_baseline(client, case: Case):
    await register(client, OWNER, "Kasonde")
    registered = await add_meter(client, OWNER, OLD, hours_ago=10)
    for step in case.steps:
        when = registered + timedelta(hours=step.hours)
        if step.reset:
            async with client.app[appkeys.DB]() as s, s.begin():
                done = await meters.reset_baseline(s, SERIAL.lower(), now=when)
            assert ("changed" if done["changed"] else "unchanged") == step.status
            assert done["after"] == {"export_wh": None, "import_wh": None, "read_at": done["after"]["read_at"]}
            continue
        body = timed(reading(step.export_wh, step.import_wh, step.hours), registered)
        resp = await client.post("/meters/readings", json=body, headers={"X-Meter-Secret": SECRET})
        assert resp.status == step.status, await resp.text()
    async with client.app[appkeys.DB]() as s:
        statuses = (await s.scalars(select(MeterReading.status).order_by(MeterReading.read_at))).all()
    assert list(statuses) == ["baseline", *case.statuses]
    await books_ok(client)
    async with client.app[appkeys.DB]() as s:
        credited = await s.scalar(select(MeterReading.credited_wh).where(MeterReading.status == "baseline")
                                  .order_by(MeterReading.read_at.desc()).limit(1))
    assert credited == 0
    assert (await balances(client, OWNER))[1] == case.energy


async def test_reset_returns_before_and_after_for_the_audit_row(client):
    await register(client, OWNER, "Kasonde")
    registered = await add_meter(client, OWNER, OLD, hours_ago=10)
    later = registered + timedelta(hours=2)
    async with client.app[appkeys.DB]() as s, s.begin():
        first = await meters.reset_baseline(s, SERIAL, now=later)
        again = await meters.reset_baseline(s, SERIAL, now=later + timedelta(hours=1))
    assert first == {"serial": SERIAL, "changed": True,
                     "before": {"export_wh": 50_000, "import_wh": 1_000, "read_at": registered.isoformat()},
                     "after": {"export_wh": None, "import_wh": None, "read_at": later.isoformat()}}
    assert again == {**first, "changed": False, "before": first["after"]}
    with pytest.raises(meters.UnknownMeter):
        async with client.app[appkeys.DB]() as s, s.begin():
            await meters.reset_baseline(s, "MTR-404")


async def test_reset_baseline_from_the_cli(client):
    await register(client, OWNER, "Kasonde")
    await add_meter(client, OWNER, OLD, hours_ago=10)
    first = await asyncio.to_thread(_cli, client, ["meter", "reset-baseline", SERIAL], "")
    again = await asyncio.to_thread(_cli, client, ["meter", "reset-baseline", SERIAL.lower()], "")
    unknown = await asyncio.to_thread(_cli, client, ["meter", "reset-baseline", "MTR-404"], "")
    assert first.returncode == 0 and "the next reading becomes its baseline" in first.stdout, first.stderr
    assert '"export_wh": 50000' in first.stdout and '"export_wh": null' in first.stdout
    assert again.returncode == 0 and "already waiting for its new baseline" in again.stdout, again.stderr
    assert unknown.returncode == 1 and unknown.stderr.strip().splitlines() == [
        "enerlectra: no meter has serial 'MTR-404'"], unknown.stderr
    async with client.app[appkeys.DB]() as s:
        meter = await s.scalar(select(Meter).where(Meter.number == SERIAL))
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "meter.reset_baseline"))).all()
    assert (meter.last_export_wh, meter.last_import_wh) == (None, None)
    [row] = rows                                        # the second run changed nothing: no second row
    assert (row.actor, row.target) == ("cli", f"meter:{SERIAL}")
    assert json.loads(row.before)["export_wh"] == 50_000 and json.loads(row.after)["export_wh"] is None
