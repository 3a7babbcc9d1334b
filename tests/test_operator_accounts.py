"""Operator accounts after the first: `operator set` (role, chair's cluster, disable/enable), `operator password`
(a new one ends every console session of the old one) and `operator list`; each change audited, never a
password in a line or an audit row."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry
from tests.console_helpers import PASSWORD, add_operator, log_in, operator_client
from tests.test_console_access import operator_cli  # noqa: F401  (the fixture)
from ussd_app import appkeys

NEW_PASSWORD = "a brand new password 42"


async def audit_of(client, action: str) -> list[AuditEntry]:
    async with client.app[appkeys.DB_READ]() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_a_disabled_operator_is_out_on_the_next_request_and_back_when_enabled(client, operator_cli):
    await operator_client(client, "admin")
    assert (await client.get("/console/audit")).status == 200
    code, out, err = await operator_cli(["operator", "set", "admin@example.com", "--disable"])
    assert code == 0 and "disabled" in out, err
    assert (await client.get("/console/audit", allow_redirects=False)).status == 302     # to the login
    assert (await log_in(client, "admin@example.com")).status != 302
    assert (await operator_cli(["operator", "set", "admin@example.com", "--enable"]))[0] == 0
    assert (await log_in(client, "admin@example.com")).status == 302
    changes = [json.loads(r.after)["disabled"] for r in await audit_of(client, "operator.change")]
    assert changes == [True, False]


async def test_a_role_change_applies_on_the_next_request(client, operator_cli):
    await operator_client(client, "viewer")
    assert (await client.get("/console/audit")).status == 200
    assert (await operator_cli(["operator", "set", "viewer@example.com", "--role", "support"]))[0] == 0
    assert (await client.get("/console/me")).status == 200
    [row] = await audit_of(client, "operator.change")
    assert (json.loads(row.before)["role"], json.loads(row.after)["role"], row.actor) == ("viewer", "support", "cli")


async def test_a_new_password_ends_the_sessions_of_the_old_one(client, operator_cli):
    await operator_client(client, "admin")
    code, out, err = await operator_cli(["operator", "password", "admin@example.com"], stdin=NEW_PASSWORD + "\n")
    assert code == 0 and "new password set" in out and NEW_PASSWORD not in out + err, (out, err)
    assert (await client.get("/console/audit", allow_redirects=False)).status == 302
    assert (await log_in(client, "admin@example.com", PASSWORD)).status != 302
    assert (await log_in(client, "admin@example.com", NEW_PASSWORD)).status == 302
    assert (await client.get("/console/audit")).status == 200
    [row] = await audit_of(client, "operator.password")
    assert NEW_PASSWORD not in (row.after or "") + (row.before or "")


async def test_a_new_password_lifts_a_lock(client, operator_cli, settings):
    await add_operator(client, "support")
    for _ in range(settings.console_login_max_failures):
        await log_in(client, "support@example.com", "a wrong password here")
    assert (await log_in(client, "support@example.com")).status != 302          # locked
    assert (await operator_cli(["operator", "password", "support@example.com"], stdin=NEW_PASSWORD + "\n"))[0] == 0
    assert (await log_in(client, "support@example.com", NEW_PASSWORD)).status == 302


@pytest.mark.parametrize("argv, stdin, says", [
    (["operator", "set", "admin@example.com"], "", "nothing to change"),
    (["operator", "set", "admin@example.com", "--role", "chair"], "", "a chair needs --cluster"),
    (["operator", "set", "admin@example.com", "--cluster", "NOPE1"], "", "no cluster"),
    (["operator", "set", "nobody@example.com", "--disable"], "", "no operator nobody@example.com"),
    (["operator", "password", "admin@example.com"], "short\n", "at least 12 characters"),
    (["operator", "password", "nobody@example.com"], NEW_PASSWORD + "\n", "no operator"),
])
async def test_refusals_are_one_line(client, operator_cli, argv, stdin, says):
    await add_operator(client, "admin")
    code, out, err = await operator_cli(argv, stdin)
    assert code != 0 and says in err and err.count("\n") == 1 and "Traceback" not in err, (out, err)


async def test_the_list_shows_each_operator_once_with_its_state(client, operator_cli, settings):
    await add_operator(client, "admin")
    await add_operator(client, "viewer")
    await operator_cli(["operator", "set", "viewer@example.com", "--disable"])
    assert (await log_in(client, "admin@example.com")).status == 302
    code, out, _err = await operator_cli(["operator", "list"])
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and set(lines) == {"admin@example.com", "viewer@example.com"}
    assert lines["viewer@example.com"][1:4] == ["viewer", "-", "disabled"] and lines["viewer@example.com"][4] == "never"
    assert lines["admin@example.com"][3] == "active" and lines["admin@example.com"][4] != "never"
