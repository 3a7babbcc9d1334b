"""A station says an eject failed, the inventory says the bank is gone (issue 20): the inventory is the truth.

Heartbeat first, then the failed result: the rental runs (deposit held, the renter told to take it) and an incident
is logged, unless the station says the slot was empty or held another bank when it tried (the bank left before
this eject: missing, deposit back). Failed result first, then a heartbeat showing the slot empty: the rental stays
cancelled (no automatic charge on a contradiction) and an incident names it for an operator."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from enerlectra.db.models import Bank, EjectRequest, SmsOutbox, StationLog

DEPOSIT = 10_000


async def failed_result(shop, cab, cmd, reason: str, evt_seq: int | None = None) -> str:
    return await shop.world.apply(cab.evt("eject_result", evt_seq, slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"],
                                          ok=False, reason=reason), shop.now)


async def seen(shop, cmd) -> tuple[str, str | None, str]:
    """(request state, its reason, the bank's state)."""
    async with shop.db() as s:
        req = await s.scalar(select(EjectRequest).where(EjectRequest.req_id == cmd["req_id"]))
        bank = await s.scalar(select(Bank.state).where(Bank.serial == cmd["pb"]))
    return req.state, req.reason, bank


async def logged(shop, kind: str) -> list[str]:
    async with shop.db() as s:
        return list(await s.scalars(select(StationLog.detail).where(StationLog.kind == kind).order_by(StationLog.id)))


async def texts_to(shop, user) -> list[str]:
    async with shop.db() as s:
        return list(await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == user.msisdn,
                                                                 SmsOutbox.kind == "rental").order_by(SmsOutbox.id)))


# reason the station gives, whether a heartbeat after the command showed the slot empty first,
# then: the request, the rental, the deposit held, the bank, what the log says
HEARTBEAT_FIRST = [
    ("not_popped", True, "ok", "active", DEPOSIT, "rented", "incident"),
    ("lock_motor", True, "ok", "active", DEPOSIT, "rented", "incident"),
    ("comm_timeout", True, "ok", "active", DEPOSIT, "rented", "incident"),
    ("unknown", True, "ok", "active", DEPOSIT, "rented", "incident"),
    ("slot_empty", True, "failed", "cancelled", 0, "missing", "alert"),     # it left before this eject
    ("busy", True, "failed", "cancelled", 0, "missing", "alert"),           # the station never acted on it
    ("expired", True, "expired", "cancelled", 0, "missing", "alert"),
    ("pb_mismatch", True, "failed", "cancelled", 0, "missing", "alert"),
    ("not_popped", False, "failed", "cancelled", 0, "available", None),    # still in its slot: a failure
    ("expired", False, "expired", "cancelled", 0, "available", None),
]


@pytest.mark.parametrize("reason, gone, req_state, rental_state, held, bank_state, log", HEARTBEAT_FIRST)
async def test_a_failed_result_is_judged_by_the_inventory(shop, reason, gone, req_state, rental_state, held,
                                                          bank_state, log):
    cab, user, view, cmd = await shop.ejecting("5301", "+260971530001", after=5)
    if gone:
        cab.banks[cmd["slot"]] = None
    await shop.world.apply(cab.hb(), shop.now)
    assert await failed_result(shop, cab, cmd, reason) == req_state
    state, why, bank = await seen(shop, cmd)
    assert (state, bank) == (req_state, bank_state)
    assert why == (f"gone:{reason}" if req_state == "ok" else reason)
    rental = await shop.rental(view.ref)
    assert (rental.state, await shop.held(), await shop.wallet(user)) == (rental_state, held, 50_000 - held)
    last = (await texts_to(shop, user))[-1]
    assert ("take your power bank" in last) == (rental_state == "active"), last
    incidents, alerts = await logged(shop, "incident"), await logged(shop, "alert")
    assert bool(incidents) == (log == "incident") and bool(alerts) == (log == "alert"), (incidents, alerts)
    if log == "incident":
        assert view.ref in incidents[0] and reason in incidents[0]
    await shop.books_ok()


@pytest.mark.parametrize("again", ["same evt", "republished failed", "ok"])
async def test_the_result_again_after_the_inventory_decided_moves_nothing(shop, again):
    cab, user, view, cmd = await shop.ejecting("5302", "+260971530002", after=5)
    cab.banks[cmd["slot"]] = None
    await shop.world.apply(cab.hb(), shop.now)
    assert await failed_result(shop, cab, cmd, "not_popped", evt_seq=7001) == "ok"
    shop.t = 20
    if again == "same evt":
        assert await failed_result(shop, cab, cmd, "not_popped", evt_seq=7001) == "duplicate"
    elif again == "republished failed":                # the station's stored result, a new evt_id
        assert await failed_result(shop, cab, cmd, "not_popped") == "duplicate"
    else:
        assert await shop.world.apply(cab.evt("eject_result", slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"],
                                              ok=True), shop.now) == "duplicate"
    assert (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    assert len(await logged(shop, "incident")) == 1 and len(await texts_to(shop, user)) == 1
    await shop.books_ok()
    cab.banks[2] = (cmd["pb"], 50)                     # and it comes back: billed as any rental
    shop.t = 3600
    await shop.world.apply(cab.hb(), shop.now)
    assert (await shop.rental(view.ref)).state == "returned" and await shop.held() == 0
    await shop.books_ok()


# a heartbeat between the failure and the one that shows the slot empty (it saw the bank still there)?
@pytest.mark.parametrize("seen_between", [False, True])
async def test_a_bank_gone_after_its_failed_eject_names_the_cancelled_rental(shop, seen_between):
    cab, user, view, cmd = await shop.ejecting("5303", "+260971530003", after=5)
    assert await failed_result(shop, cab, cmd, "not_popped") == "failed"
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.held() == 0
    if seen_between:
        shop.t = 60
        await shop.world.apply(cab.hb(), shop.now)
    shop.t = 120
    cab.banks[cmd["slot"]] = None
    await shop.world.apply(cab.hb(), shop.now)
    assert (await seen(shop, cmd))[2] == "missing"
    incidents = await logged(shop, "incident")
    if seen_between:                                   # it left later, not by that eject: a plain missing bank
        assert incidents == []
    else:
        [line] = incidents
        assert view.ref in line and cmd["req_id"] in line and "cancelled" in line
    assert any("left slot" in line for line in await logged(shop, "alert"))
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.held() == 0   # no automatic charge
    await shop.books_ok()
