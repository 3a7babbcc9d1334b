"""Review 2 of the rental money paths (issue 20): attacks that end a rental, move a deposit or free a bank on
a message that is stale, late or contradicts the inventory. Each test states what must hold; a finding not
fixed yet is a strict xfail (it fails the suite the day it is fixed, so the mark comes off with the fix)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from enerlectra.db.models import Bank
from enerlectra.domain.rentals import holds, notices, service
from tests.rentals_helpers import Shop

DEPOSIT = 10_000


async def bank_state(shop, serial: str) -> str:
    async with shop.db() as s:
        return await s.scalar(select(Bank.state).where(Bank.serial == serial))


@pytest.fixture
async def shop(database, settings, monkeypatch):
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


async def test_a_stale_heartbeat_that_still_shows_the_ejected_bank_is_not_a_return(shop):
    cab = await shop.station("5201", slots=4, banks=1)
    cab.ts = int(shop.now.timestamp()) - 1             # the station's clock agrees with ours
    stale = cab.hb()                                   # the inventory before the eject: the bank in slot 1
    user = await shop.renter("+260971520001", 50_000)
    view = await shop.rent(user, "5201", "hop:stale")
    cab.ts = int(shop.now.timestamp()) + 2
    assert await shop.eject_result(cab, view.ref) == "ok"
    shop.t = 60
    cab.ts = int(shop.now.timestamp())
    await shop.world.apply(cab.hb(), shop.now)         # the current inventory: slot 1 empty
    shop.t = 61
    await shop.world.apply(stale, shop.now)            # delivered late: the renter still holds the bank
    rental = await shop.rental(view.ref)
    assert rental.state == "active", "a stale heartbeat ended the rental: the bank is out with its deposit back"
    assert await shop.held() == DEPOSIT
    await shop.books_ok()
    cab.banks[1] = ("PB520101", 40)                    # the renter puts it back into slot 1: the next heartbeat
    shop.t, cab.ts = 3600, int(shop.now.timestamp()) + 3600   # (stamped after the eject) is the return
    await shop.world.apply(cab.hb(), shop.now)
    assert (await shop.rental(view.ref)).state == "returned" and await shop.held() == 0
    await shop.books_ok()


@pytest.mark.parametrize("ender", ["report", "sweep"])
async def test_a_loss_and_a_return_at_once_both_finish(shop, monkeypatch, ender):
    """A loss (the renter's report, the worker's sweep) locked the rental, then the bank (marking it lost); a
    return locks the bank (station side), then the rental: on PostgreSQL the two deadlocked and one was aborted
    (the renter's USSD hop, the worker's job or the link's event, dropped)."""
    cab = await shop.station("5202", slots=4, banks=1)
    other = await shop.station("5203", slots=4, banks=0)
    user = await shop.renter("+260971520002", 50_000)
    view = await shop.rent(user, "5202", "hop:race")
    assert await shop.eject_result(cab, view.ref) == "ok"
    shop.t = 600 if ender == "report" else 40 * 86_400
    posted, go_on = asyncio.Event(), asyncio.Event()
    settle = holds.settle

    async def settle_then_wait(s, rental, bill):       # the report holds the rental's lock here, a moment longer
        found = await settle(s, rental, bill)
        if bill.lost:
            posted.set()
            await go_on.wait()
        return found
    monkeypatch.setattr(holds, "settle", settle_then_wait)

    async def report():
        if ender == "report":
            return await service.report_lost(shop.db, user, "hop:lost")
        return await notices.run(shop.db, shop.now, lost=True)

    async def give_back():
        await posted.wait()
        return await shop.give_back(other, view.bank_serial)

    async def release():
        await posted.wait()
        await asyncio.sleep(0.5)                      # the return is waiting for the rental's lock by now
        go_on.set()
    found = await asyncio.wait_for(asyncio.gather(report(), give_back(), release(), return_exceptions=True), 30)
    assert not [f for f in found if isinstance(f, BaseException)], found
    assert (await shop.rental(view.ref)).state == "found" and await shop.held() == 0     # the loss won: refunded
    await shop.books_ok()


async def test_two_link_processes_applying_one_return_bill_it_once(shop):
    """Two subscribers (serve must run one; an operator may start two) each get the QoS 1 return event, at once."""
    cab = await shop.station("5204", slots=4, banks=1)
    user = await shop.renter("+260971520004", 50_000)
    view = await shop.rent(user, "5204", "hop:twice")
    assert await shop.eject_result(cab, view.ref) == "ok"
    shop.t = 2 * 3600
    cab.banks[3] = (view.bank_serial, 40)
    event = cab.evt("return", slot=3, pb=view.bank_serial, soc=40)
    done = await asyncio.gather(shop.world.apply(event, shop.now), shop.world.apply(event, shop.now))
    assert sorted(done) == ["duplicate", "returned"]
    assert (await shop.rental(view.ref)).state == "returned" and await shop.held() == 0
    assert await shop.wallet(user) == 50_000 - 500 * 2     # two started hours at K5, once
    await shop.books_ok()


async def test_one_renter_at_two_stations_at_once_gets_one_rental(shop):
    await shop.station("5205", slots=4, banks=2)
    await shop.station("5206", slots=4, banks=2)
    user = await shop.renter("+260971520005", 50_000)
    got = await asyncio.gather(shop.rent(user, "5205", "hop:a"), shop.rent(user, "5206", "hop:b"),
                               return_exceptions=True)
    rented = [g for g in got if not isinstance(g, BaseException)]
    refused = [g for g in got if isinstance(g, service.RentRefused)]
    assert len(rented) == 1 and [r.code for r in refused] == ["open_rental"], got
    assert await shop.wallet(user) == 50_000 - DEPOSIT and await shop.held() == DEPOSIT
    async with shop.db() as s:                          # the loser's bank was never reserved
        states = (await s.scalars(select(Bank.state).where(Bank.serial.like("PB520%")))).all()
    assert sorted(states) == ["available"] * 3 + ["reserved"]
    assert len(shop.sent) == 1 and shop.command(rented[0].ref)      # one eject published, the winner's
    await shop.books_ok()


async def test_an_ok_result_for_another_bank_does_not_end_as_a_free_bank(shop):
    cab = await shop.station("5207", slots=4, banks=2)
    user = await shop.renter("+260971520007", 50_000)
    view = await shop.rent(user, "5207", "hop:mismatch")
    cmd = shop.command(view.ref)
    other = next(n for n in cab.banks if cab.banks[n] and n != cmd["slot"])
    wrong = cab.banks[other][0]
    cab.banks[other] = None                             # the other bank came out
    await shop.world.apply(cab.evt("eject_result", slot=cmd["slot"], pb=wrong, req_id=cmd["req_id"], ok=True),
                           shop.now)
    shop.t = 3600
    await shop.world.apply(cab.hb(), shop.now)          # the inventory: the commanded bank still there
    rental = await shop.rental(view.ref)
    assert rental.state == "active" and await shop.held() == DEPOSIT, "the renter holds a bank with no rental"
    assert (rental.slot_n, await bank_state(shop, wrong), await bank_state(shop, cmd["pb"])) == \
        (other, "rented", "available")
    cab.banks[other] = (wrong, 30)                      # it comes back: billed as the rental's bank
    await shop.world.apply(cab.hb(), shop.now)
    assert (await shop.rental(view.ref)).state == "returned" and await shop.held() == 0
    await shop.books_ok()


async def test_a_return_the_link_hears_late_is_billed_at_the_stations_time(shop):
    cab = await shop.station("5208", slots=4, banks=1)
    user = await shop.renter("+260971520008", 50_000)
    view = await shop.rent(user, "5208", "hop:late")
    assert await shop.eject_result(cab, view.ref) == "ok"
    cab.ts = int(shop.now.timestamp()) + 90 * 60       # the bank went back 90 minutes in, on time
    shop.t = 6 * 3600                                   # the link applies it hours later (it was down)
    assert await shop.give_back(cab, view.bank_serial) == "returned"
    rental = await shop.rental(view.ref)
    assert rental.bill["minutes"] == 90 and rental.bill["late_fee"] == 0, rental.bill


async def test_a_failed_result_against_the_inventory_gives_no_deposit_back(shop):
    cab = await shop.station("5209", slots=4, banks=1)
    user = await shop.renter("+260971520009", 50_000)
    view = await shop.rent(user, "5209", "hop:contradiction")
    cmd = shop.command(view.ref)
    cab.banks[cmd["slot"]] = None                       # it came out (the renter pulled it)
    cab.ts = int(shop.now.timestamp()) + 5
    await shop.world.apply(cab.hb(), shop.now)
    await shop.world.apply(cab.evt("eject_result", slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"], ok=False,
                                   reason="not_popped"), shop.now)
    assert (await shop.rental(view.ref)).state != "cancelled" and await shop.held() == DEPOSIT
