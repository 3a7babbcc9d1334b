"""`enerlectra stations add | list | log | note`: what an operator types and reads; bad input gets one line."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry
from tests.conftest import random_station_code
from tests.stations_helpers import Cabinet, World, at
from tests.test_cli import assert_one_line, run_cli


@pytest.fixture
async def world(database):
    w = World(database)
    yield w
    await w.close()


async def test_add_list_and_log_a_station(cli_env, world):
    code = random_station_code()
    status, out, err = await run_cli("stations", "add", code, "--name", "Mama Zuhura Shop", "--area", "Kariakoo",
                                     "--slots", "4", "--country", "TZ")
    assert status == 0, err
    assert f"station {code} (Mama Zuhura Shop, Kariakoo, TZ): 4 slots" in out
    cab = Cabinet(code, 4)
    cab.banks[1], cab.banks[2], cab.banks[3] = ("PBCLI0001", 95), ("PBCLI0002", 30), ("PBCLI0003", 88)
    cab.faults[3] = "lock_motor"
    await world.apply(cab.status(True), at(0))
    await world.apply(cab.hb(), at(1))
    status, out, err = await run_cli("stations", "list", "--area", "kariakoo")
    assert status == 0, err
    [line] = [row for row in out.splitlines() if row.startswith(code)]
    assert line.split()[-6:] == ["online", "1", "1", "2026-12-06", "12:00:01", "UTC"]   # 1 charged free, slot 4 free
    status, out, err = await run_cli("stations", "note", code, "replaced the lock motor of slot 3", "--bank",
                                     "PBCLI0003")
    assert status == 0, err
    status, out, err = await run_cli("stations", "log", code)
    assert status == 0, err
    lines = out.splitlines()
    assert "note" in lines[0] and "PBCLI0003: replaced the lock motor of slot 3 (cli)" in lines[0]
    assert any("fault" in line and "slot 3: lock_motor" in line for line in lines)
    cab.banks[2] = None                                   # gone with no eject: an alert
    await world.apply(cab.hb(), at(61))
    status, out, err = await run_cli("stations", "alerts")
    assert status == 0, err
    assert f"alert     {code}  PBCLI0002: bank PBCLI0002 left slot 2 with no eject" in out.splitlines()[0]
    async with world.db() as s:
        actions = list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        added = await s.scalar(select(AuditEntry.after).where(AuditEntry.action == "station.add"))
    assert actions == ["station.add", "station.note"] and json.loads(added)["slots"] == 4


@pytest.mark.parametrize("argv, expected_code, says", [
    (("stations", "add", "12a4", "--name", "X", "--area", "Y", "--slots", "4"), 1, "4 to 6 digits"),
    (("stations", "add", "1234567", "--name", "X", "--area", "Y", "--slots", "4"), 1, "4 to 6 digits"),
    (("stations", "add", "1234", "--name", "X", "--area", "Y", "--slots", "0"), 2, "slots"),
    (("stations", "add", "1234", "--name", "X", "--area", "Y", "--slots", "4", "--country", "KE"), 2, "country"),
    (("stations", "log", "000000"), 1, "no station has code"),
    (("stations", "note", "000000", "hello"), 1, "no station or bank"),
])
async def test_bad_input_gets_one_line(cli_env, argv, expected_code, says):
    assert_one_line(*await run_cli(*argv), expected_code, says)


async def test_a_code_taken_changes_nothing(cli_env):
    code = random_station_code()
    args = ("stations", "add", code, "--name", "A", "--area", "B", "--slots", "2")
    assert (await run_cli(*args))[0] == 0
    assert_one_line(*await run_cli(*args), 1, "registered already")
