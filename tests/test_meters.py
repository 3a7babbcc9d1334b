"""Meter readings as a table of cases: what each does to the owner's energy, and what the meter is told."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from tests.test_market import balances
from tests.test_wallet import register
from ussd_app import appkeys
from ussd_app.db.models import User
from ussd_app.domain import ledger, meters

OWNER = "+260971950001"
T0 = "2026-11-22T08:00:00Z"


def at(hour: int, minute: int = 0) -> str:
    return f"2026-11-22T{hour:02d}:{minute:02d}:00Z"


def reading(export_wh: int, import_wh: int = 0, when: str = T0, meter: str = "MTR-001") -> dict:
    return {"meter": meter, "export_wh": export_wh, "import_wh": import_wh, "timestamp": when}


@dataclass
class Case:
    label: str
    posts: list[dict]
    statuses: list[int]
    energy: int                                  # the owner's Wh after all posts
    last: str | None = None                      # the last response's status field
    secret: str | None = None                    # None: the meter's own
    flagged: int = 0
    extra: dict = field(default_factory=dict)


CASES = [
    Case("first reading is the baseline", [reading(10_000)], [200], 0, "baseline"),
    Case("normal increase credits the export", [reading(10_000), reading(12_500, when=at(10))], [200, 200], 2_500,
         "credited"),
    Case("import draws on the credits", [reading(10_000, 1_000), reading(14_000, 1_500, at(10))], [200, 200],
         3_500, "credited"),
    Case("import beyond the credits takes only what is there",
         [reading(10_000, 0), reading(10_500, 3_000, at(10))], [200, 200], 0, "credited"),
    Case("repeat: stored once, credited once",
         [reading(10_000), reading(12_000, when=at(9)), reading(12_000, when=at(9))], [200, 200, 200], 2_000,
         "duplicate"),
    Case("out of order is refused", [reading(10_000), reading(12_000, when=at(10)), reading(11_000, when=at(9))],
         [200, 200, 409], 2_000),
    Case("backwards is flagged, not credited",
         [reading(10_000), reading(9_000, when=at(9))], [200, 202], 0, "flagged", flagged=1),
    Case("after a flag the last good reading stays the reference",
         [reading(10_000), reading(9_000, when=at(9)), reading(11_000, when=at(10))], [200, 202, 200], 1_000,
         "credited", flagged=1),
    Case("implausible jump is flagged", [reading(10_000), reading(60_000, when=at(9))], [200, 202], 0, "flagged",
         flagged=1),
    Case("a big export over a long time is plausible", [reading(10_000), reading(60_000, when=at(11))],
         [200, 200], 50_000, "credited"),
    Case("wrong secret", [reading(10_000)], [401], 0, secret="WRON-GSEC"),
    Case("unknown meter", [reading(10_000, meter="MTR-999")], [401], 0),
    Case("not JSON", [b"export=1"], [400], 0),
    Case("negative Wh", [reading(-5)], [400], 0),
    Case("fractional Wh", [{**reading(10_000), "export_wh": 10.5}], [400], 0),
    Case("timestamp without a zone", [reading(10_000, when="2026-11-22T08:00:00")], [400], 0),
    Case("timestamp in the future", [reading(10_000, when="2099-01-01T00:00:00Z")], [400], 0),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_meter_readings(client, case):
    await register(client, OWNER, "Kasonde")
    async with client.app[appkeys.DB]() as s, s.begin():
        owner = await s.scalar(select(User).where(User.msisdn == OWNER))
        secret = await meters.register(s, owner, "mtr-001")
    headers = {"X-Meter-Secret": case.secret or secret}
    for body, status in zip(case.posts, case.statuses, strict=True):
        if isinstance(body, bytes):
            resp = await client.post("/meters/readings", data=body, headers=headers)
        else:
            resp = await client.post("/meters/readings", json=body, headers=headers)
        assert resp.status == status, (body, await resp.text())
    if case.last:
        assert (await resp.json())["status"] == case.last
    assert (await balances(client, OWNER))[1] == case.energy
    async with client.app[appkeys.DB]() as s:
        flagged = await meters.flagged(s)                      # what `enerlectra meter flagged` lists
        assert len(flagged) == case.flagged
        assert all(number == "MTR-001" and msisdn == OWNER and r.reason for number, msisdn, r in flagged)
        assert await ledger.verify(s) == []


async def test_a_meter_number_is_registered_once(client):
    await register(client, OWNER, "Kasonde")
    async with client.app[appkeys.DB]() as s, s.begin():
        owner = await s.scalar(select(User).where(User.msisdn == OWNER))
        secret = await meters.register(s, owner, "MTR-7")
        with pytest.raises(meters.MeterTaken):
            await meters.register(s, owner, "mtr-7")
    assert len(secret) == 9 and secret[4] == "-"
