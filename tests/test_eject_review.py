"""Attack review of the eject merge (94d78d8: a failed result judged by the inventory, `stations eject-settle`, stuck
ejects in `stations alerts`): orderings, an operator racing the station and the sweep, through the real station
and rental code on the test's database (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from enerlectra.db.models import Bank, EjectRequest, StationLog
from enerlectra.domain import audit
from enerlectra.domain.stations import by_hand, ejects
from enerlectra.domain.work import unit_of_work
from tests.stations_helpers import RULES, T0, Cabinet

DEPOSIT = 10_000
FUNDS = 50_000


async def settle_by_hand(shop, req_id: str, ejected: bool, force: bool = False):
    async with unit_of_work(shop.db) as s:
        return await by_hand.settle(s, audit.Actor("ops@enerlectra.test"), req_id, ejected, "seen at the cabinet",
                                    shop.now, shop.world.hooks, force)


async def request_of(shop, req_id: str) -> EjectRequest:
    async with shop.db() as s:
        return await s.scalar(select(EjectRequest).where(EjectRequest.req_id == req_id))


async def bank_state(shop, serial: str) -> tuple[str, int | None]:
    async with shop.db() as s:
        bank = await s.scalar(select(Bank).where(Bank.serial == serial))
        return bank.state, bank.slot_n


# -- a heartbeat stamped before the request, delivered after it (QoS 0 reordered, a second link process) ------
# The bank was given back into slot 1 (return event) after the cabinet took that inventory: the stale heartbeat
# shows slot 1 empty once the bank is reserved for a new renter. The station then says, truly, that the eject
# failed. Taking the stale inventory as "the bank is gone" started the rental (deposit kept, "take your power
# bank") for a renter who holds nothing; the next heartbeat ended it as a return and billed them.

@pytest.mark.parametrize("reason", ["not_popped", "comm_timeout", "lock_motor"])
async def test_a_stale_heartbeat_does_not_turn_a_failed_eject_into_a_rental(shop, reason):
    sid, serial = "5501", "PB55010001"
    await shop.world.add(sid, 4)
    cab = Cabinet(sid, 4)
    cab.ts = int(T0.timestamp()) - 30
    stale = cab.hb()                                     # slot 1 empty: taken before the bank came back
    cab.ts = int(T0.timestamp()) - 20
    await shop.world.apply(cab.hb(), shop.now)
    cab.ts = int(T0.timestamp()) - 10
    cab.banks[1] = (serial, 100)
    await shop.world.apply(cab.evt("return", slot=1, pb=serial, soc=100), shop.now)
    user = await shop.renter("+260971550001", FUNDS)
    view = await shop.rent(user, sid, "hop:+260971550001")
    cmd = shop.command(view.ref)
    assert cmd["pb"] == serial
    shop.t = 3
    await shop.world.apply(stale, shop.now)              # arrives late
    cab.ts = int(T0.timestamp()) + 4
    got = await shop.world.apply(cab.evt("eject_result", slot=1, pb=serial, req_id=cmd["req_id"], ok=False,
                                         reason=reason), shop.now)
    assert got == "failed"
    assert (await shop.rental(view.ref)).state == "cancelled"
    assert (await shop.held(), await shop.wallet(user)) == (0, FUNDS)
    assert await bank_state(shop, serial) == ("available", 1)
    shop.t = 60
    cab.ts = int(T0.timestamp()) + 60
    await shop.world.apply(cab.hb(), shop.now)           # the bank was there all along
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.wallet(user) == FUNDS
    assert await bank_state(shop, serial) == ("available", 1)
    await shop.books_ok()


# a heartbeat stamped after the request that shows the bank gone still decides a failed result (issue 20)
async def test_a_fresh_heartbeat_still_judges_a_failed_result(shop):
    cab, user, view, cmd = await shop.ejecting("5502", "+260971550002", after=5)
    cab.banks[cmd["slot"]] = None
    cab.ts = int(shop.now.timestamp())
    await shop.world.apply(cab.hb(), shop.now)
    got = await shop.world.apply(cab.evt("eject_result", slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"],
                                         ok=False, reason="not_popped"), shop.now)
    assert got == "ok" and (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    await shop.books_ok()


# -- the operator before the cabinet's time to eject is over -----------------------------------------------
# A pending request before its expires_at may still pop the bank: "not ejected" then gave the deposit back,
# the station's ok result a moment later was only an incident, and the renter walked off with the bank.

async def test_an_operator_cannot_settle_before_the_eject_expired(shop):
    cab, user, view, cmd = await shop.ejecting("5503", "+260971550003", after=5)
    with pytest.raises(by_hand.TooEarly):
        await settle_by_hand(shop, cmd["req_id"], False, force=True)
    assert (await shop.rental(view.ref)).state == "ejecting" and await shop.held() == DEPOSIT
    assert await shop.eject_result(cab, view.ref, ok=True) == "ok"       # the station's word still counts
    assert (await shop.rental(view.ref)).state == "active"
    shop.t = 31                                          # past expires_at (issued + 30 s): the operator may
    cab2, user2, view2, cmd2 = await shop.ejecting("5504", "+260971550004", after=shop.t + 31)
    assert (await settle_by_hand(shop, cmd2["req_id"], False)).state == "failed"
    assert (await shop.rental(view2.ref)).state == "cancelled"
    await shop.books_ok()


async def test_the_cli_says_too_early_in_one_line(shop, cli_env):
    from tests.test_cli import assert_one_line, run_cli

    cab, user, view, cmd = await shop.ejecting("5508", "+260971550008", after=5)
    got = await run_cli("stations", "eject-settle", cmd["req_id"], "--not-ejected", "--why", "renter called", "--force")
    assert_one_line(*got, 1, f"{cmd['req_id']}: not settled: the cabinet may still eject it until ")
    assert (await shop.rental(view.ref)).state == "ejecting" and await shop.held() == DEPOSIT
    await shop.books_ok()


# -- PostgreSQL lock order: the unknown sweep against the station's lockers ---------------------------------
# sweep_unknown locked the pending request rows and then, at its flush, wrote station log rows whose foreign key
# takes a share lock on the station. An operator's settle (or the station's late result) holds the station
# FOR UPDATE and waits for the request: a cycle, and PostgreSQL aborts one of them (the result is dropped by the
# link, the operator gets a traceback).

@pytest.mark.parametrize("racer", ["operator", "station result"])
async def test_the_unknown_sweep_and_a_station_locker_do_not_deadlock(shop, racer):
    sid, msisdn = ("5505", "+260971550005") if racer == "operator" else ("5506", "+260971550006")
    cab, user, view, cmd = await shop.ejecting(sid, msisdn, after=40)     # pending, due for the sweep

    async def race():
        if racer == "operator":
            return (await settle_by_hand(shop, cmd["req_id"], True, force=True)).state
        cab.banks[cmd["slot"]] = None
        return await shop.world.apply(cab.evt("eject_result", slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"],
                                              ok=True), shop.now)
    async with unit_of_work(shop.db) as s:
        assert await ejects.sweep_unknown(s, RULES, shop.now) == [sid]
        other = asyncio.create_task(race())
        await asyncio.sleep(0.6)                         # it holds the station and waits for the request
    assert await asyncio.wait_for(other, 20) == "ok"
    assert (await request_of(shop, cmd["req_id"])).state == "ok"
    assert (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    async with shop.db() as s:
        assert await s.scalar(select(StationLog.id).where(StationLog.detail.like(f"%{cmd['req_id']}%inventory%")))
    await shop.books_ok()


# -- held: two operators at once settle once ----------------------------------------------------------------

@pytest.mark.parametrize("first, second", [(True, False), (False, True), (True, True)])
async def test_two_operators_at_once_settle_once(shop, first, second):
    cab, user, view, cmd = await shop.ejecting("5507", "+260971550007", after=40, sweep=True)

    async def one(word):
        try:
            return (await settle_by_hand(shop, cmd["req_id"], word, force=True)).state
        except by_hand.NotOpen:
            return "not open"
    got = await asyncio.gather(one(first), one(second))
    assert got.count("not open") == 1, got
    ejected = (await request_of(shop, cmd["req_id"])).state == "ok"
    assert await shop.held() == (DEPOSIT if ejected else 0)
    assert await shop.wallet(user) == FUNDS - (DEPOSIT if ejected else 0)
    await shop.books_ok()


# -- whose rental the incident names -------------------------------------------------------------------------
# The station says the first renter's eject failed, yet it popped (they walk off with it). Within the minute before
# the next heartbeat a second renter gets the same bank (still "available in slot 1", the best charged): the station
# finds the slot empty. The heartbeat that shows it gone named the second rental (the last failure) for an
# operator to chase, not the first renter, who holds the bank.

async def test_the_incident_names_the_renter_who_may_hold_the_bank(shop):
    cab, user, view, cmd = await shop.ejecting("5511", "+260971550011", after=5)
    assert await shop.eject_result(cab, view.ref, ok=False, reason="comm_timeout") == "failed"
    cab.banks[cmd["slot"]] = None                        # it came out after all
    second = await shop.renter("+260971550012", FUNDS)
    shop.t = 20
    view2 = await shop.rent(second, "5511", "hop:+260971550012")
    cmd2 = shop.command(view2.ref)
    assert cmd2["pb"] == cmd["pb"]
    assert await shop.eject_result(cab, view2.ref, ok=False, reason="slot_empty") == "failed"
    shop.t = 60
    await shop.world.apply(cab.hb(), shop.now)
    async with shop.db() as s:
        [line] = (await s.scalars(select(StationLog.detail).where(StationLog.kind == "incident"))).all()
    assert view.ref in line and cmd["req_id"] in line and view2.ref not in line, line
    assert (await shop.wallet(user), await shop.wallet(second), await shop.held()) == (FUNDS, FUNDS, 0)
    await shop.books_ok()


# -- held: a result for another station's request, an operator's odd request id --------------------------

async def test_a_result_from_another_station_moves_nothing(shop):
    cab, user, view, cmd = await shop.ejecting("5509", "+260971550009", after=5)
    other = await shop.station("5510", slots=4, banks=1)
    got = await shop.world.apply(other.evt("eject_result", slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"],
                                           ok=True), shop.now)
    assert got == "unknown_request"
    assert (await request_of(shop, cmd["req_id"])).state == "pending"
    assert (await shop.rental(view.ref)).state == "ejecting" and await shop.held() == DEPOSIT
    assert await shop.eject_result(cab, view.ref, ok=False, reason="not_popped") == "failed"   # its own still counts
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.wallet(user) == FUNDS
    await shop.books_ok()


@pytest.mark.parametrize("req_id", ["x" * 500, "01J' OR '1'='1", "01JÉJECT", ""])
async def test_an_odd_request_id_is_one_line(shop, cli_env, req_id):
    from tests.test_cli import assert_one_line, run_cli

    got = await run_cli("stations", "eject-settle", req_id, "--ejected", "--why", "renter called")
    assert_one_line(*got, 1, "no eject request")
