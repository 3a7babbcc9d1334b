"""A bank declared lost that comes back into a station (rentals/found.py): within RENTAL_FOUND_REFUND_DAYS billed
again as a late return and the difference refunded once (first off the debt), after it only an alert. A table,
retransmissions, a process killed after the refund's post, and the return racing the lost sweep. After each:
the ledger verifies and the held deposits equal the open rentals'."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from enerlectra import faults
from enerlectra.db.models import Bank, JournalEntry, StationLog
from enerlectra.domain.rentals import billing, found, notices, service
from enerlectra.domain.rentals.tariff import tariff_for
from tests.rentals_helpers import Shop
from tests.test_rentals import out, sms_to

HOUR, MIN, DAY = 3600, 60, 86_400
LOST_AT = 96 * HOUR               # the default tariff: due after 24 h, declared lost 3 days later


@pytest.fixture
async def shop(database, settings, monkeypatch):
    made = Shop(database, settings, monkeypatch)
    yield made
    await made.close()


@dataclass(frozen=True)
class Case:
    label: str
    money: int                    # in the wallet before renting (the deposit, K100, is held from it)
    lost_by: str                  # "sweep" (overdue) or "report" (the renter, at lost_at)
    lost_at: int
    back_at: int
    state: str                    # the rental's after the bank came back
    wallet: int
    owed: int
    revenue: int
    sms: str | None               # the last rental SMS contains it (None: no new SMS after the loss)


CASES = [
    # lost bill K350 (deposit and K250 from the wallet); back a day later: K125 time + 96 late hours K192 = K317
    Case("found after 1 day", 100_000, "sweep", LOST_AT, LOST_AT + DAY, "found", 100_000 - 31_700, 0, 31_700,
         "Cost now K317.00, K33.00 back to your wallet."),
    Case("found after the window", 100_000, "sweep", LOST_AT, LOST_AT + 31 * DAY, "lost", 100_000 - 35_000, 0,
         35_000, None),
    Case("found on the last day", 100_000, "sweep", LOST_AT, LOST_AT + 30 * DAY, "found", 100_000 - 35_000, 0,
         35_000, "Cost stays K350.00."),        # the late fees reached the device price by then: nothing back
    # reported after an hour, back 10 minutes later: one started hour after the free minutes, K5
    Case("reported lost, back 10 min later", 100_000, "report", HOUR, HOUR + 10 * MIN, "found", 100_000 - 500, 0, 500,
         "Cost now K5.00, K345.00 back to your wallet."),
    # K50 in the wallet after the deposit: K150 taken, K200 owed; the K33 difference only lowers the debt
    Case("owed partly unpaid", 15_000, "sweep", LOST_AT, LOST_AT + DAY, "found", 0, 16_700, 15_000,
         "Cost now K317.00, K167.00 still owed."),
    # K200 in the wallet after the deposit: K300 taken, K50 owed; the debt goes first, then K295 back
    Case("owed, then a refund", 30_000, "report", HOUR, HOUR + 10 * MIN, "found", 29_500, 0, 500,
         "Cost now K5.00, K295.00 back to your wallet."),
]


async def _lose(shop, user, view, how: str, at: int) -> None:
    shop.t = at
    if how == "sweep":
        assert await notices.run(shop.db, shop.now, lost=True) == 1
    else:
        await service.report_lost(shop.db, user, f"lost:{view.ref}")
    assert (await shop.rental(view.ref)).state == "lost"


async def _bank(shop, serial: str) -> Bank:
    async with shop.db() as s:
        return await s.scalar(select(Bank).where(Bank.serial == serial))


async def _log(shop, kind: str) -> list[str]:
    async with shop.db() as s:
        return list((await s.scalars(select(StationLog.detail).where(StationLog.kind == kind)
                                     .order_by(StationLog.id))).all())


async def _found_entries(shop) -> int:
    async with shop.db() as s:
        return await s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "rental_found"))


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_a_lost_bank_that_comes_back(shop, case):
    cab = await shop.station("5301", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971530001", money=case.money)
    await _lose(shop, user, view, case.lost_by, case.lost_at)
    said = len(await sms_to(shop, user))
    shop.t = case.back_at
    assert await shop.give_back(cab, view.bank_serial) == "returned"
    rental = await shop.rental(view.ref)
    assert (rental.state, rental.owed) == (case.state, case.owed)
    assert (await shop.wallet(user), await shop.revenue()) == (case.wallet, case.revenue)
    bank = await _bank(shop, view.bank_serial)
    assert (bank.state, bank.station_id is not None) == ("available", True)       # back in service either way
    sms = await sms_to(shop, user)
    if case.sms is None:
        assert len(sms) == said
        assert [d for d in await _log(shop, "alert") if view.ref in d and "no refund" in d]
    else:
        assert len(sms) == said + 1 and case.sms in sms[-1] and "lost power bank came back" in sms[-1], sms[-1]
        assert [d for d in await _log(shop, "note") if view.ref in d and "found" in d]
        assert rental.bill["total"] == case.revenue + case.owed and not rental.bill["lost"]
    assert not [d for d in await _log(shop, "alert") if "no rental behind it" in d]
    await shop.books_ok()


@pytest.mark.parametrize("lost_bill,owed,due_now,cancelled,back", [
    ((10_000, 25_000), 0, 31_700, 0, 3_300),
    ((10_000, 25_000), 20_000, 31_700, 3_300, 0),
    ((10_000, 25_000), 5_000, 500, 5_000, 29_500),
    ((10_000, 25_000), 0, 35_000, 0, 0),
    ((10_000, 25_000), 0, 40_000, 0, 0),            # never a negative refund
])
def test_the_refund_cancels_the_debt_first(lost_bill, owed, due_now, cancelled, back):
    returned = billing.Bill("ZMW", False, 0, 0, 0, 0, 0, 0, 0, 0, due_now, 10_000, min(due_now, 10_000),
                            10_000 - min(due_now, 10_000), max(0, due_now - 10_000))
    got = found.refund({"from_deposit": lost_bill[0], "owed": lost_bill[1]}, owed, returned)
    assert (got.cancelled, got.back, got.owed) == (cancelled, back, owed - cancelled)


def test_the_window_comes_from_the_setting(settings):
    assert tariff_for(settings, "ZMW").found_refund_days == 30
    assert tariff_for(settings.with_(rental_found_refund_days=7), "TZS").found_refund_days == 7


# -- retransmissions -----------------------------------------------------------------------------------------

async def test_the_return_told_twice_and_a_heartbeat_after_it_refund_once(shop):
    cab = await shop.station("5302", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971530002")
    await _lose(shop, user, view, "sweep", LOST_AT)
    shop.t = LOST_AT + DAY
    assert await shop.give_back(cab, view.bank_serial, evt_seq=8801) == "returned"
    after = (await shop.wallet(user), len(await sms_to(shop, user)))
    slot = next(n for n, b in cab.banks.items() if b and b[0] == view.bank_serial)
    assert await shop.world.apply(cab.evt("return", 8801, slot=slot, pb=view.bank_serial, soc=40),
                                  shop.now) == "duplicate"                          # the same evt_id again
    await shop.world.apply(cab.evt("return", slot=slot, pb=view.bank_serial, soc=40), shop.now)   # a new evt_id
    shop.t += MIN
    await shop.world.apply(cab.hb(), shop.now)                                     # the heartbeat shows it there
    assert (await shop.wallet(user), len(await sms_to(shop, user))) == after
    assert await _found_entries(shop) == 1 and (await shop.rental(view.ref)).state == "found"
    await shop.books_ok()


async def test_a_refund_killed_after_the_post_leaves_nothing_and_the_redelivery_refunds_once(shop):
    cab = await shop.station("5303", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971530003")
    await _lose(shop, user, view, "sweep", LOST_AT)
    shop.t = LOST_AT + DAY
    faults.arm("rentals.found.after_post")              # once: the link process dies before its commit
    try:
        with pytest.raises(faults.Killed):
            await shop.give_back(cab, view.bank_serial, evt_seq=8802)
    finally:
        faults.disarm()
    assert (await shop.rental(view.ref)).state == "lost" and await _found_entries(shop) == 0
    assert (await _bank(shop, view.bank_serial)).state == "lost"
    await shop.books_ok()
    assert await shop.give_back(cab, view.bank_serial, evt_seq=8802) == "returned"    # QoS 1: sent again
    assert (await shop.rental(view.ref)).state == "found" and await _found_entries(shop) == 1
    assert await shop.wallet(user) == 100_000 - 31_700
    await shop.books_ok()


# -- concurrency ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sweep_first", [True, False, "done"], ids=["sweep first", "returns first", "sweep done"])
async def test_returns_racing_the_lost_sweep_leave_each_wallet_as_a_plain_return_would(shop, sweep_first):
    """Whichever wins, the bill is the return's at the time it came back: K100 time + 72 late hours K144."""
    cab = await shop.station("5304", slots=8, banks=4)
    out_now = [await out(shop, cab, f"+26097153010{n}") for n in range(4)]
    shop.t = LOST_AT
    returns = [shop.give_back(cab, view.bank_serial) for _, view in out_now]
    sweeps = [notices.run(shop.db, shop.now, lost=True) for _ in range(2)]
    if sweep_first == "done":            # the sweep committed before the banks came back: every one found
        assert sum(await asyncio.gather(*sweeps)) == 4
        sweeps = []
    results = await asyncio.gather(*(sweeps + returns if sweep_first else returns + sweeps))
    declared = [r for r in results if isinstance(r, int)]
    assert [r for r in results if not isinstance(r, int)] == ["returned"] * 4 and sum(declared) <= 4
    for user, view in out_now:
        rental = await shop.rental(view.ref)
        assert rental.state in (("found",) if sweep_first == "done" else ("returned", "found")), rental.state
        assert (await shop.wallet(user), rental.bill["total"], rental.owed) == (100_000 - 24_400, 24_400, 0)
        assert (await _bank(shop, view.bank_serial)).state == "available"
    assert await shop.revenue() == 4 * 24_400 and await shop.held() == 0
    await shop.books_ok()
