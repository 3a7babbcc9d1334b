"""An operator settles an eject the station never answered (by_hand.settle, `enerlectra stations eject-settle`):
through the real station and rental code, money once, audited; racing a late station result, one of them wins."""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from enerlectra import faults
from enerlectra.db.models import AuditEntry, Bank, EjectRequest, StationLog
from enerlectra.domain import audit
from enerlectra.domain.stations import by_hand, fleet
from enerlectra.domain.work import unit_of_work
from tests.stations_helpers import RULES

DEPOSIT = 10_000


async def stuck(shop, sid: str, msisdn: str):
    """A rental whose eject went unanswered past the unknown timeout (the sweep asked the inventory; no heartbeat
    came): (cabinet, renter, rental view, eject command)."""
    cab, user, view, cmd = await shop.ejecting(sid, msisdn, after=40, sweep=True)
    async with shop.db() as s:
        assert await s.scalar(select(EjectRequest.state).where(EjectRequest.req_id == cmd["req_id"])) == "unknown"
    return cab, user, view, cmd


async def settle(shop, req_id: str, ejected: bool, why: str = "renter showed the bank at the shop",
                 force: bool = False) -> EjectRequest:
    async with unit_of_work(shop.db) as s:
        return await by_hand.settle(s, audit.Actor("ops@enerlectra.test"), req_id, ejected, why, shop.now,
                                    shop.world.hooks, force)


async def audited(shop) -> list[dict]:
    async with shop.db() as s:
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "eject.settle"))).all()
    return [dict(json.loads(r.after), actor=r.actor, target=r.target) for r in rows]


# the operator's word, whether a heartbeat after the request showed the bank gone (None: no heartbeat since),
# --force; then: settled as, the rental, the deposit held, the bank
WORDS = [
    (True, None, False, "ok", "active", DEPOSIT, "rented"),
    (False, None, False, "failed", "cancelled", 0, "available"),
    (True, True, False, "ok", "active", DEPOSIT, "rented"),
    (False, False, False, "failed", "cancelled", 0, "available"),
    (True, False, True, "ok", "active", DEPOSIT, "rented"),                 # forced against the slot
    (False, True, True, "failed", "cancelled", 0, "missing"),               # forced: nothing reached the renter
]


@pytest.mark.parametrize("ejected, gone, force, state, rental_state, held, bank_state", WORDS)
async def test_an_operator_settles_a_stuck_eject(shop, ejected, gone, force, state, rental_state, held, bank_state):
    cab, user, view, cmd = await stuck(shop, "5401", "+260971540001")
    if gone is not None:
        cab.banks[cmd["slot"]] = None if gone else cab.banks[cmd["slot"]]
        cab.ts = int(shop.now.timestamp()) - 30          # after the request, before expires_at: it decides nothing
        await shop.world.apply(cab.hb(), shop.now)
    shop.t = 300
    req = await settle(shop, cmd["req_id"], ejected, force=force)
    assert (req.state, req.reason) == (state, "operator")
    assert (await shop.rental(view.ref)).state == rental_state
    assert (await shop.held(), await shop.wallet(user)) == (held, 50_000 - held)
    async with shop.db() as s:
        assert await s.scalar(select(Bank.state).where(Bank.serial == cmd["pb"])) == bank_state
        [note] = (await s.scalars(select(StationLog.detail).where(StationLog.kind == "note",
                                                                  StationLog.author == "ops@enerlectra.test"))).all()
    assert "renter showed the bank" in note and ("forced" in note) == force
    assert await audited(shop) == [{"state": state, "rental": view.ref, "why": "renter showed the bank at the shop",
                                    "force": force, "actor": "ops@enerlectra.test", "target": f"eject:{cmd['req_id']}"}]
    await shop.books_ok()


@pytest.mark.parametrize("ejected, gone, says", [
    (True, False, "in slot 1"),
    (False, True, "out of every slot"),
])
async def test_the_inventory_since_the_request_refuses_the_opposite_word(shop, ejected, gone, says):
    cab, user, view, cmd = await stuck(shop, "5402", "+260971540002")
    if gone:
        cab.banks[cmd["slot"]] = None
    cab.ts = int(shop.now.timestamp()) - 30          # after the request, before expires_at
    await shop.world.apply(cab.hb(), shop.now)
    with pytest.raises(by_hand.InventoryDisagrees, match=says):
        await settle(shop, cmd["req_id"], ejected)
    assert (await shop.rental(view.ref)).state == "ejecting" and await shop.held() == DEPOSIT
    assert await audited(shop) == []
    await shop.books_ok()


@pytest.mark.parametrize("why", ["", "   ", "x" * 201, "line\x07bell"])
async def test_a_bad_reason_changes_nothing(shop, why):
    cab, user, view, cmd = await stuck(shop, "5403", "+260971540003")
    with pytest.raises(ValueError, match="--why"):
        await settle(shop, cmd["req_id"], True, why)
    assert (await shop.rental(view.ref)).state == "ejecting" and await audited(shop) == []


# -- retransmission: the operator twice, the station after the operator ----------------------------------

@pytest.mark.parametrize("first, second", [(True, True), (True, False), (False, False), (False, True)])
async def test_settled_once_a_second_word_changes_nothing(shop, first, second):
    cab, user, view, cmd = await stuck(shop, "5404", "+260971540004")
    await settle(shop, cmd["req_id"], first)
    held = await shop.held()
    with pytest.raises(by_hand.NotOpen) as raised:
        await settle(shop, cmd["req_id"], second, force=True)
    assert raised.value.state == ("ok" if first else "failed") and raised.value.settled_at is not None
    assert await shop.held() == held and len(await audited(shop)) == 1
    await shop.books_ok()


async def test_an_unknown_request_is_not_open(shop):
    with pytest.raises(by_hand.NotOpen) as raised:
        await settle(shop, "01JUNKNOWNREQUEST000000000", True)
    assert raised.value.state is None


# the operator's word, the station's late result; what the result does then
@pytest.mark.parametrize("word, ok, outcome", [
    (True, True, "duplicate"), (False, False, "duplicate"), (True, False, "incident"), (False, True, "incident"),
])
async def test_a_station_result_after_the_operator_moves_no_money(shop, word, ok, outcome):
    cab, user, view, cmd = await stuck(shop, "5405", "+260971540005")
    await settle(shop, cmd["req_id"], word)
    held, wallet = await shop.held(), await shop.wallet(user)
    shop.t = 400
    assert await shop.eject_result(cab, view.ref, ok=ok, reason=None if ok else "not_popped") == outcome
    assert (await shop.held(), await shop.wallet(user)) == (held, wallet)
    assert (await shop.rental(view.ref)).state == ("active" if word else "cancelled")
    await shop.books_ok()


# -- concurrency: the operator and the station's late result at once -------------------------------------

@pytest.mark.parametrize("word, ok", [(True, True), (True, False), (False, True), (False, False)])
async def test_the_operator_racing_the_station_settles_once(shop, word, ok):
    cab, user, view, cmd = await stuck(shop, "5406", "+260971540006")
    shop.t = 300

    async def by_operator():
        try:
            return await settle(shop, cmd["req_id"], word, force=True)
        except by_hand.NotOpen:
            return "not open"
    got = await asyncio.gather(by_operator(), shop.eject_result(cab, view.ref, ok=ok,
                                                                 reason=None if ok else "not_popped"))
    operator_won = got[0] != "not open"
    assert got[1] in (("duplicate", "incident") if operator_won else ("ok", "failed")), got
    async with shop.db() as s:
        req = await s.scalar(select(EjectRequest).where(EjectRequest.req_id == cmd["req_id"]))
    ejected = word if operator_won else ok
    assert (req.state == "ok") == ejected and (req.reason == "operator") == operator_won
    assert (await shop.rental(view.ref)).state == ("active" if ejected else "cancelled")
    assert await shop.held() == (DEPOSIT if ejected else 0) and len(await audited(shop)) == int(operator_won)
    await shop.books_ok()


# -- a fault: the process dies after the deposit moved, before the commit --------------------------------

@pytest.fixture
def die_after_the_settle():
    faults.arm("stations.settle_by_hand.after_settle")
    yield
    faults.disarm()


async def test_a_settle_killed_before_the_commit_leaves_nothing_and_the_rerun_settles_once(shop,
                                                                                           die_after_the_settle):
    cab, user, view, cmd = await stuck(shop, "5407", "+260971540007")
    with pytest.raises(faults.Killed):
        await settle(shop, cmd["req_id"], False)
    assert (await shop.rental(view.ref)).state == "ejecting" and await shop.held() == DEPOSIT
    assert await audited(shop) == []
    await shop.books_ok()
    await settle(shop, cmd["req_id"], False)
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.held() == 0
    assert await shop.wallet(user) == 50_000 and len(await audited(shop)) == 1
    await shop.books_ok()


# -- what an operator sees: ejects stuck open ------------------------------------------------------------

async def test_stuck_ejects_are_listed_until_settled(shop):
    cab, user, view, cmd = await stuck(shop, "5408", "+260971540008")
    async with shop.db() as s:
        listed = await fleet.stuck_ejects(s, shop.now - RULES.unknown_after)
        fresh = await fleet.stuck_ejects(s, shop.now - RULES.unknown_after - RULES.unknown_after)
    assert [(r.req_id, code, serial) for r, code, serial in listed] == [(cmd["req_id"], "5408", cmd["pb"])]
    assert fresh == []
    await settle(shop, cmd["req_id"], True)
    async with shop.db() as s:
        assert await fleet.stuck_ejects(s, shop.now) == []
