"""`enerlectra stations eject-settle` and the stuck ejects in `stations alerts`: what an operator types and reads
(one line for every refusal, exit 1; argparse's exit 2 for a command line that is wrong)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry
from tests.test_cli import assert_one_line, run_cli

DEPOSIT = 10_000


pytestmark = pytest.mark.usefixtures("cli_env")


def stuck(shop, sid: str, msisdn: str):
    return shop.ejecting(sid, msisdn, after=40, sweep=True)


async def test_an_operator_lists_and_settles_a_stuck_eject_once(shop):
    cab, user, view, cmd = await stuck(shop, "5501", "+260971550001")
    status, out, err = await run_cli("stations", "alerts")
    assert status == 0, err
    [line] = [row for row in out.splitlines() if f"request {cmd['req_id']}" in row]
    assert f"5501    {cmd['pb']}: request {cmd['req_id']} (slot 1, rental {view.ref}) still unknown" in line
    assert "stations eject-settle" in line
    status, out, err = await run_cli("stations", "eject-settle", cmd["req_id"], "--ejected", "--why",
                                     "renter has the bank, seen on the shop's camera")
    assert status == 0, err
    assert out.strip() == (f"{cmd['req_id']}: settled ejected (rental {view.ref} runs); the renter's SMS goes out "
                           "with the next outbox sweep")
    assert (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    again = await run_cli("stations", "eject-settle", cmd["req_id"], "--not-ejected", "--why", "again", "--force")
    assert_one_line(*again, 1, f"{cmd['req_id']}: settled already (ok at ")
    assert (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    status, out, err = await run_cli("stations", "alerts")
    assert status == 0 and f"request {cmd['req_id']}" not in out, out
    async with shop.db() as s:
        [entry] = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "eject.settle"))).all()
    assert entry.actor == "cli" and json.loads(entry.after)["why"] == "renter has the bank, seen on the shop's camera"
    await shop.books_ok()
    assert (await run_cli("ledger", "verify"))[0] == 0


async def test_the_inventory_refuses_and_force_overrides(shop):
    cab, user, view, cmd = await stuck(shop, "5502", "+260971550002")
    cab.ts = int(shop.now.timestamp()) - 60                # after the request (our clock), not deciding it
    await shop.world.apply(cab.hb(), shop.now)             # the bank still in slot 1
    refused = await run_cli("stations", "eject-settle", cmd["req_id"], "--ejected", "--why", "renter says so")
    assert_one_line(*refused, 1, f"shows {cmd['pb']} in slot 1; --force to settle it ejected anyway")
    assert (await shop.rental(view.ref)).state == "ejecting"
    status, out, err = await run_cli("stations", "eject-settle", cmd["req_id"], "--not-ejected", "--why",
                                     "slot 1 still locked with the bank in it")
    assert status == 0, err
    assert "settled not ejected" in out and "cancelled, deposit back" in out
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.held() == 0
    assert await shop.wallet(user) == 50_000
    await shop.books_ok()


@pytest.mark.parametrize("tail, code, says", [
    (("--ejected", "--why", "  "), 2, "--why: say what was seen"),
    (("--ejected", "--why", "x" * 201), 2, "--why: 200 printable characters at most"),
    (("--ejected",), 2, "--why"),
    (("--why", "seen"), 2, "one of the arguments --ejected --not-ejected is required"),
    (("--ejected", "--not-ejected", "--why", "seen"), 2, "not allowed with argument"),
])
async def test_a_wrong_command_line_gets_one_line(shop, tail, code, says):
    cab, user, view, cmd = await stuck(shop, "5503", "+260971550003")
    assert_one_line(*await run_cli("stations", "eject-settle", cmd["req_id"], *tail), code, says)
    assert (await shop.rental(view.ref)).state == "ejecting"


async def test_an_unknown_request_gets_one_line(shop):
    assert_one_line(*await run_cli("stations", "eject-settle", "01JNOSUCHREQUEST0000000000", "--ejected",
                                   "--why", "seen"), 1, "no eject request '01JNOSUCHREQUEST0000000000'")
