"""Attack review of the found refund (rentals/found.py) and of the payment limits per currency: a lost bank
that comes back told many ways and then rented again, the refund's arithmetic as a property over billing,
the refund racing the same renter's other rental on PostgreSQL's row locks, and a screen's currency that
is not the user's. After each money path: the ledger verifies and the held deposits equal the open rentals'."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from enerlectra.db.models import Account, JournalEntry, Payment
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.rentals import billing, found, notices, service
from enerlectra.domain.rentals.tariff import tariff_for
from enerlectra.settings import Settings
from payments.service import Limits, NotServed, OverLimit
from tests import test_payments
from tests.databases import pg_url
from tests.test_rentals import out
from tests.test_rentals_found import LOST_AT, _bank, _found_entries, _lose

mtn, airtel, pawapay, make_pay = test_payments.mtn, test_payments.airtel, test_payments.pawapay, test_payments.make_pay

HOUR, MIN, DAY = 3600, 60, 86_400
ZMW = tariff_for(Settings(), "ZMW")


async def _entries(shop, kind: str) -> int:
    async with shop.db() as s:
        return await s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == kind))


def _slot_of(cab, serial: str) -> int:
    return next(n for n, b in cab.banks.items() if b and b[0] == serial)


async def _retell(shop, cab, serial: str) -> None:
    """Every other way a station may tell us the bank is there: the return again (new evt_id) and a heartbeat,
    which shows it charged (so it may be rented again)."""
    slot = _slot_of(cab, serial)
    await shop.world.apply(cab.evt("return", slot=slot, pb=serial, soc=40), shop.now)
    cab.banks[slot] = (serial, 100)
    await shop.world.apply(cab.hb(), shop.now)


# -- the first renter is refunded once, whatever the bank does after ---------------------------------------

@dataclass(frozen=True)
class Afterlife:
    label: str
    back_after: int               # after the loss: within the window (30 days) or not
    first: str                    # the first rental's state once the bank is back
    first_wallet: int             # its renter's wallet at the end (K1000 before renting)
    second_lost: bool             # the second renter loses it too, and it comes back a day later


AFTERLIVES = [
    # back a day after the loss: re-billed K317, K33 back; the second renter's rental changes nothing of it
    Afterlife("found, rented again, returned", DAY, "found", 100_000 - 31_700, False),
    Afterlife("found, rented again, lost and found", DAY, "found", 100_000 - 31_700, True),
    # back after the window: the lost bill stands, and the second rental's refund is the second renter's
    Afterlife("too late, rented again, returned", 31 * DAY, "lost", 100_000 - 35_000, False),
    Afterlife("too late, rented again, lost and found", 31 * DAY, "lost", 100_000 - 35_000, True),
]


@pytest.mark.parametrize("case", AFTERLIVES, ids=[c.label for c in AFTERLIVES])
async def test_the_first_renter_is_settled_once_whatever_the_bank_does_after(shop, case):
    home = await shop.station("5401", slots=4, banks=1)
    away = await shop.station("5402", slots=4, banks=0)
    first, lost = await out(shop, home, "+260971540001")
    serial = lost.bank_serial
    await _lose(shop, first, lost, "sweep", LOST_AT)
    shop.t = LOST_AT + case.back_after
    assert await shop.give_back(away, serial, evt_seq=9901) == "returned"
    await _retell(shop, away, serial)
    assert await shop.world.apply(away.evt("return", 9901, slot=_slot_of(away, serial), pb=serial, soc=40),
                                  shop.now) == "duplicate"
    await shop.world.apply(home.hb(), shop.now)       # the station it was rented from, still without it
    assert (await shop.rental(lost.ref)).state == case.first
    refunds = await _entries(shop, "rental_found")
    # someone else rents the same bank where it came back, and brings it back to the first station
    second, again = await out(shop, away, "+260971540002")
    assert again.bank_serial == serial
    if case.second_lost:
        shop.t += LOST_AT
        assert await notices.run(shop.db, shop.now, lost=True) == 1
        shop.t += DAY
    else:
        shop.t += 2 * HOUR
    assert await shop.give_back(home, serial) == "returned"
    await _retell(shop, home, serial)
    await shop.world.apply(away.hb(), shop.now)
    assert ((await shop.rental(lost.ref)).state, await shop.wallet(first)) == (case.first, case.first_wallet)
    assert (await shop.rental(again.ref)).state == ("found" if case.second_lost else "returned")
    assert await _entries(shop, "rental_found") == refunds + case.second_lost      # only the second renter's
    assert (await _bank(shop, serial)).state == "available"
    await shop.books_ok()


async def test_two_stations_telling_of_the_same_found_bank_at_once_refund_it_once(shop):
    """The bank goes into one station while another (a stale or a lying one) sends a heartbeat and a return
    event showing it: whichever transaction gets the bank's row first refunds, the other sees it placed."""
    one = await shop.station("5403", slots=4, banks=1)
    two = await shop.station("5404", slots=4, banks=0)
    user, lost = await out(shop, one, "+260971540003")
    await _lose(shop, user, lost, "sweep", LOST_AT)
    shop.t = LOST_AT + DAY
    two.banks[2] = (lost.bank_serial, 40)
    told = await asyncio.gather(shop.give_back(one, lost.bank_serial),
                                shop.world.apply(two.hb(), shop.now),
                                shop.world.apply(two.evt("return", slot=2, pb=lost.bank_serial, soc=40), shop.now),
                                shop.give_back(one, lost.bank_serial))
    assert "returned" in told
    assert (await shop.rental(lost.ref)).state == "found" and await _found_entries(shop) == 1
    assert await shop.wallet(user) == 100_000 - 31_700 and (await _bank(shop, lost.bank_serial)).state == "available"
    await shop.books_ok()


async def test_a_renter_who_still_owes_for_a_lost_bank_cannot_take_another(shop):
    cab = await shop.station("5405", slots=4, banks=2)
    user, lost = await out(shop, cab, "+260971540005", money=10_000)     # the deposit and nothing more
    shop.t = HOUR
    await service.report_lost(shop.db, user, f"lost:{lost.ref}")
    assert (await shop.rental(lost.ref)).owed == 25_000
    await shop.world.apply(cab.hb(), shop.now)
    await wallet.credit(shop.db, "test:fund:again", user, user.currency, 10_000, "test")
    with pytest.raises(service.RentRefused) as refused:      # the K100 covers the deposit, not the K250 owed
        await shop.rent(user, cab.sid, "hop:again")
    assert (refused.value.code, refused.value.owed, refused.value.needed) == ("owed", 25_000, 25_000)
    assert await shop.wallet(user) == 10_000 and (await shop.rental(lost.ref)).owed == 25_000
    await shop.books_ok()


# -- the refund's arithmetic, as a property over billing ------------------------------------------------------

@hsettings(max_examples=400, deadline=None)
@given(extension=st.one_of(st.none(), st.tuples(st.integers(0, 23 * HOUR), st.integers(1, 24))),
       lost_after=st.integers(0, 10 * DAY), back_after=st.integers(0, 30 * DAY), wallet=st.integers(0, 60_000))
def test_a_found_refund_leaves_the_renter_as_a_plain_return_would(extension, lost_after, back_after, wallet):
    """Whatever the extensions, the time of the loss and of the return and what the wallet could pay: the
    renter never gets back more than they paid, and paid less refund plus what stays owed is the late
    return's bill exactly."""
    rental = billing.start(ZMW, 0)
    if extension is not None:
        rental = billing.extend(ZMW, rental, extension[1], extension[0]).rental
    lost_at = rental.started_at + lost_after
    lost = billing.bill(ZMW, rental, billing.Lost(lost_at))
    paid_beyond = min(lost.owed, wallet + lost.released)          # holds.settle: what the wallet covered
    owed = lost.owed - paid_beyond
    back_at = billing.Returned(lost_at + back_after)
    returned = billing.bill(ZMW, rental, back_at)
    got = found.refund({"from_deposit": lost.from_deposit, "owed": lost.owed}, owed, returned)
    paid = lost.from_deposit + paid_beyond                        # what the loss took from deposit and wallet
    assert got.back >= 0 and got.cancelled >= 0 and got.owed >= 0
    assert got.back <= paid and got.cancelled <= owed
    assert paid - got.back + got.owed == returned.due_now
    assert got.back == max(0, paid - returned.due_now)


# -- the refund racing the same renter's other rental (PostgreSQL row locks) ---------------------------------

async def _blocked_by(shop, pids: set[int], at_least: int) -> set[int]:
    """The backends waiting on one of `pids` (directly or queued behind), once there are `at_least`."""
    async with shop.db() as watch:
        for _ in range(200):
            blocked = set((await watch.scalars(text(
                "SELECT pid FROM pg_stat_activity WHERE pg_blocking_pids(pid) && CAST(:pids AS int[])"),
                {"pids": sorted(pids)})).all())
            if len(blocked) >= at_least:
                return blocked
            await watch.rollback()         # pg_stat_activity is read once per transaction: a new one each time
            await asyncio.sleep(0.05)
    raise AssertionError(f"never {at_least} waiting on {pids}")


@pytest.mark.skipif(not pg_url(), reason="row locks: PostgreSQL only (SQLite has one writer)")
@pytest.mark.parametrize("second", ["returned", "reported lost"])
async def test_a_found_refund_and_the_renters_other_rental_settling_never_deadlock(shop, second):
    """The renter's lost bank comes back at one station while their next rental settles (returned at another,
    or reported lost). A settle locks the wallet and the system accounts; a refund that locked the revenue
    account and then waited for the wallet deadlocked with it, and PostgreSQL aborted one. A third transaction
    holds the wallet until both wait, so they queue in the order that deadlocked."""
    one = await shop.station("5411", slots=4, banks=1)
    two = await shop.station("5412", slots=4, banks=1)
    _, earlier = await out(shop, two, "+260971541009")     # an earlier renter: the system accounts come first
    shop.t = 2 * HOUR
    assert await shop.give_back(two, earlier.bank_serial) == "returned"
    await shop.world.apply(one.hb(), shop.now)
    user, lost = await out(shop, one, "+260971541001")
    await _lose(shop, user, lost, "sweep", shop.t + LOST_AT)
    two.banks = {n: b and (b[0], 100) for n, b in two.banks.items()}
    await shop.world.apply(two.hb(), shop.now)             # online again, its bank charged
    now_out = await shop.rent(user, two.sid, "hop:next")
    assert await shop.eject_result(two, now_out.ref) == "ok"
    shop.t += HOUR
    async with shop.db() as blocker:
        pid = await blocker.scalar(text("SELECT pg_backend_pid()"))
        await blocker.execute(select(Account.id).where(Account.code == ledger.user_code(user.id, user.currency))
                              .with_for_update())
        if second == "returned":
            settling = asyncio.ensure_future(shop.give_back(two, now_out.bank_serial))
        else:
            settling = asyncio.ensure_future(service.report_lost(shop.db, user, "lost:next"))
        first = await _blocked_by(shop, {pid}, 1)              # the settle waits for the wallet
        refund = asyncio.ensure_future(shop.give_back(one, lost.bank_serial))
        await _blocked_by(shop, {pid} | first, 2)              # and the refund waits too
        await blocker.commit()
    await asyncio.gather(settling, refund)
    assert (await shop.rental(lost.ref)).state == "found" and await _found_entries(shop) == 1
    assert (await shop.rental(now_out.ref)).state == ("returned" if second == "returned" else "lost")
    await shop.books_ok()


# -- payment limits: the screen's currency is only an early word ---------------------------------------------

async def test_a_currency_that_is_not_the_users_never_loosens_the_limit(make_pay):
    """A screen may ask check_limits in any currency (the session's); the payment itself is in the user's and
    is checked again under the user's lock with that currency's limits: TZS's larger figures never let a
    Zambian deposit or withdraw past ZMW's."""
    client, _fake, zambian = await make_pay("pawapay")
    payments = client.app[test_payments.appkeys.PAYMENTS]
    payments.limits = Limits(5000, 8000, {"TZS": 500_000}, {"TZS": 800_000})
    await payments.check_limits(zambian.id, "collection", 6000, "TZS")          # the early word in TZS says yes
    for direction, start in (("collection", payments.deposit), ("payout", payments.withdraw)):
        with pytest.raises(OverLimit) as exc:
            await start(zambian, 6000, key=uuid.uuid4().hex)
        assert (exc.value.which, exc.value.limit) == ("payment", 5000), direction
    await test_payments.books_ok(client)


@pytest.mark.parametrize("direction", ["collection", "payout"])
@pytest.mark.parametrize("who,wallet", [("zambian", "+255712500009"), ("tanzanian", "+260961500099")],
                         ids=["ZMW user, TZ wallet", "TZS user, ZM wallet"])
async def test_a_wallet_of_another_currency_is_not_served(make_pay, who, wallet, direction):
    """The payment is in the user's currency; a wallet in another country holds another one. The service asked
    the provider to move ZMW from or to a Tanzanian number (the money menu refuses such a number, a cluster's
    supplier number was not): now NotServed, nothing recorded, the same as a network we do not reach."""
    client, _fake, zambian = await make_pay("pawapay")
    payments = client.app[test_payments.appkeys.PAYMENTS]
    user = zambian if who == "zambian" else await users.register(
        client.app[test_payments.appkeys.DB], parse_msisdn("+255712500019"), "Neema", "sw",
        hash_user_pin("4826", 16))
    await wallet_credit(client, user)
    start = payments.deposit if direction == "collection" else payments.withdraw
    with pytest.raises(NotServed):
        await start(user, 2000, wallet, key=uuid.uuid4().hex)
    assert payments.provider_for(wallet, direction, user.currency) is None
    async with client.app[test_payments.appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Payment).where(Payment.user_id == user.id)) == 0
    await test_payments.books_ok(client)


async def wallet_credit(client, user) -> None:
    await wallet.credit(client.app[test_payments.appkeys.DB], f"test:fund:{user.msisdn}", user, user.currency,
                        100_000, "test")
