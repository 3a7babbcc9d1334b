"""Operators' changes from the command line leave audit rows (actor "cli"), once per change."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry
from tests.test_cli import run_cli
from tests.test_wallet import register
from ussd_app import appkeys

ZM = "+260971810001"


async def audit_rows(client, action: str) -> list[AuditEntry]:
    async with client.app[appkeys.DB_READ]() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


@pytest.mark.parametrize("argv, asset, amount", [
    (("ledger", "credit", ZM, "12.50", "--reason", "pilot", "--key", "ops-1"), "ZMW", 1250),
    (("energy", "credit", ZM, "1500", "--reason", "pilot", "--key", "ops-1"), "WH", 1500),
])
async def test_a_credit_is_audited_once_however_often_it_is_run(client, cli_env, argv, asset, amount):
    await register(client, ZM, "Mapalo")
    for says in (": credited ", "made before with --key ops-1; nothing more"):   # the same key again: no second entry
        code, out, err = await run_cli(*argv)
        assert code == 0 and says in out, err
    code, _out, err = await run_cli(*argv[:3], "9" + argv[3], *argv[4:])        # the key with another amount
    assert code != 0 and "--key ops-1 was used for another credit" in err and "nothing was credited" in err
    [row] = await audit_rows(client, "ledger.credit")
    after = json.loads(row.after)
    assert (row.actor, after["asset"], after["amount"], after["reason"]) == ("cli", asset, amount, "operator: pilot")


async def test_registering_a_meter_is_audited(client, cli_env, monkeypatch):
    await register(client, ZM, "Mapalo")
    monkeypatch.setattr("sys.stdin", io.StringIO("a meter secret long enough\n"))
    code, _out, err = await run_cli("meter", "add", ZM, "SN-0001", "--export-wh", "100", "--import-wh", "5")
    assert code == 0, err
    [row] = await audit_rows(client, "meter.add")
    assert json.loads(row.after)["export_wh"] == 100 and row.actor == "cli"
