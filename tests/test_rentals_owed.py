"""A renter who still owes for an earlier rental (a lost bank's bill the wallet could not cover, a late return
beyond the deposit: rentals.owed) pays it when they rent again, before the deposit, in the rent's transaction
(holds.pay_debts); a wallet that cannot cover both is refused "owed" and nothing moves. After each money path:
the ledger verifies and the held deposits equal the open rentals'."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from enerlectra import faults
from enerlectra.db.models import JournalEntry, Rental, SmsOutbox
from enerlectra.domain import wallet
from enerlectra.domain.rentals import asks, service
from enerlectra.i18n import language
from tests.rentals_helpers import Shop
from tests.test_rentals import DEPOSIT, out

HOUR = 3600
LOST_OWED = 25_000           # a bank lost after an hour with only the deposit in the wallet (device K350)


async def _owing(shop, msisdn: str, station: str):
    """A renter whose bank is lost with nothing beyond the deposit: K250 owed on that rental."""
    cab = await shop.station(station, slots=10, banks=8)
    user, lost = await out(shop, cab, msisdn, money=DEPOSIT)
    shop.t = HOUR
    await service.report_lost(shop.db, user, f"lost:{lost.ref}")
    assert (await shop.rental(lost.ref)).owed == LOST_OWED
    await shop.world.apply(cab.hb(), shop.now)
    return cab, user, lost


async def _fund(shop, user, amount: int, tag: str = "again") -> None:
    if amount:
        await wallet.credit(shop.db, f"test:fund:{tag}:{user.id}", user, user.currency, amount, "test")


async def _count(shop, model, *where) -> int:
    async with shop.db() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def _debt_entries(shop) -> int:
    return await _count(shop, JournalEntry, JournalEntry.kind == "rental_owed")


# (case, money added after the loss, refused with what is missing, or the wallet left after the rent)
CASES = [
    ("covers both", LOST_OWED + DEPOSIT, None, 0),
    ("covers both and more", LOST_OWED + DEPOSIT + 700, None, 700),
    ("covers the deposit only", DEPOSIT, LOST_OWED, DEPOSIT),
    ("covers the debt only", LOST_OWED, DEPOSIT, LOST_OWED),
    ("a ngwee short", LOST_OWED + DEPOSIT - 1, 1, LOST_OWED + DEPOSIT - 1),
    ("empty", 0, LOST_OWED + DEPOSIT, 0),
]


@pytest.mark.parametrize("case,money,missing,left", CASES, ids=[c[0] for c in CASES])
async def test_a_rent_pays_what_is_owed_first_or_is_refused_with_nothing_moved(shop, case, money, missing, left):
    cab, user, lost = await _owing(shop, "+260971560001", "5601")
    await _fund(shop, user, money)
    revenue = await shop.revenue()
    if missing is not None:
        for attempt in (lambda: service.quote(shop.db, user, cab.sid), lambda: shop.rent(user, cab.sid, "hop:o")):
            with pytest.raises(service.RentRefused) as refused:
                await attempt()
            assert (refused.value.code, refused.value.needed, refused.value.owed) == ("owed", missing, LOST_OWED)
        with language("en"):
            said = asks.refusal_text("owed", cab.sid, missing, "ZMW", LOST_OWED)
        assert said.startswith("You owe K250.00 for an earlier power bank.") and f"top up K{missing / 100:,.2f}" \
            in said, said
        assert (await shop.rental(lost.ref)).owed == LOST_OWED and await _debt_entries(shop) == 0
        assert await shop.revenue() == revenue and await shop.held() == 0
    else:
        assert await service.owed(shop.db, user) == LOST_OWED
        view = await shop.rent(user, cab.sid, "hop:o")
        paid = await shop.rental(lost.ref)
        assert paid.owed == 0 and paid.bill["owed_paid"] == LOST_OWED and await _debt_entries(shop) == 1
        assert await shop.revenue() == revenue + LOST_OWED and await shop.held() == DEPOSIT
        assert await service.owed(shop.db, user) == 0 and view.state == "ejecting"
        [sms] = (await _sms(shop, view.ref))
        assert sms.body.startswith("Enerlectra R") and "K250.00 you owed for an earlier power bank is paid" in sms.body
    assert await shop.wallet(user) == left
    await shop.books_ok()


async def _sms(shop, ref: str) -> list[SmsOutbox]:
    rental = await shop.rental(ref)
    async with shop.db() as s:
        return list(await s.scalars(select(SmsOutbox).where(SmsOutbox.dedupe_key == f"rental:{rental.id}:owed_paid")))


async def test_two_debts_are_both_paid_by_their_own_entries(shop):
    cab, user, first = await _owing(shop, "+260971560002", "5602")
    async with shop.db() as s, s.begin():      # park the first debt while the second rental is taken and lost
        await s.execute(update(Rental).where(Rental.ref == first.ref).values(owed=0))
    await _fund(shop, user, DEPOSIT, "second")
    second = await shop.rent(user, cab.sid, "hop:second")
    await shop.eject_result(cab, second.ref)
    shop.t = 2 * HOUR
    await service.report_lost(shop.db, user, f"lost:{second.ref}")
    async with shop.db() as s, s.begin():
        await s.execute(update(Rental).where(Rental.ref == first.ref).values(owed=LOST_OWED))
    await shop.world.apply(cab.hb(), shop.now)
    owed = await service.owed(shop.db, user)
    assert owed == LOST_OWED + (await shop.rental(second.ref)).owed > LOST_OWED
    await _fund(shop, user, owed + DEPOSIT - 1, "third")
    with pytest.raises(service.RentRefused) as refused:
        await shop.rent(user, cab.sid, "hop:third")
    assert (refused.value.code, refused.value.needed, refused.value.owed) == ("owed", 1, owed)
    await _fund(shop, user, 1, "fourth")
    await shop.rent(user, cab.sid, "hop:third")
    assert [(await shop.rental(r.ref)).owed for r in (first, second)] == [0, 0] and await _debt_entries(shop) == 2
    assert await shop.wallet(user) == 0
    await shop.books_ok()


async def test_the_same_rent_again_pays_the_debt_once_even_in_a_new_process(shop, database, settings, monkeypatch):
    cab, user, lost = await _owing(shop, "+260971560003", "5603")
    await _fund(shop, user, LOST_OWED + 2 * DEPOSIT)
    first = await shop.rent(user, cab.sid, "hop:same")
    assert (await shop.rent(user, cab.sid, "hop:same")).ref == first.ref
    again = Shop(database, settings, monkeypatch)            # nothing cached: the key finds the rental in SQL
    try:
        assert (await again.rent(user, cab.sid, "hop:same")).ref == first.ref
    finally:
        await again.close()
    assert await _debt_entries(shop) == 1 and await shop.wallet(user) == DEPOSIT and len(await _sms(shop, first.ref)) == 1
    await shop.books_ok()


async def test_rents_at_once_at_two_stations_make_one_rental_and_pay_the_debt_once(shop):
    one, user, lost = await _owing(shop, "+260971560004", "5604")
    two = await shop.station("5605", slots=10, banks=8)
    await _fund(shop, user, 3 * (LOST_OWED + DEPOSIT))

    async def rent(n: int):
        try:
            return await shop.rent(user, (one, two)[n % 2].sid, f"hop:race:{n}")
        except service.RentRefused as refused:
            return refused.code
    got = await asyncio.gather(*(rent(n) for n in range(6)))
    rentals = [v for v in got if not isinstance(v, str)]
    assert len(rentals) == 1 and [c for c in got if isinstance(c, str)] == ["open_rental"] * 5, got
    assert await _debt_entries(shop) == 1 and (await shop.rental(lost.ref)).owed == 0
    assert await shop.wallet(user) == 3 * (LOST_OWED + DEPOSIT) - LOST_OWED - DEPOSIT
    await shop.books_ok()


@pytest.fixture
def die_after_the_debts():
    faults.arm("rentals.rent.after_debts")
    yield
    faults.disarm()


async def test_a_rent_killed_after_the_debt_post_leaves_nothing_and_the_resent_rent_pays_once(shop,
                                                                                             die_after_the_debts):
    cab, user, lost = await _owing(shop, "+260971560006", "5606")
    await _fund(shop, user, LOST_OWED + DEPOSIT)
    with pytest.raises(faults.Killed):
        await shop.rent(user, cab.sid, "hop:killed")
    assert (await shop.rental(lost.ref)).owed == LOST_OWED and await _debt_entries(shop) == 0
    assert await shop.wallet(user) == LOST_OWED + DEPOSIT and await shop.held() == 0
    await shop.books_ok()
    view = await shop.rent(user, cab.sid, "hop:killed")            # the aggregator resends the hop
    assert (await shop.rental(lost.ref)).owed == 0 and await _debt_entries(shop) == 1 and view.state == "ejecting"
    assert await shop.wallet(user) == 0
    await shop.books_ok()


@pytest.mark.parametrize("where", ["the same station", "another station"])
async def test_a_rent_paying_the_debt_while_the_lost_bank_comes_back_leaves_the_plain_return(shop, where):
    """The found refund (bank, then rental, then the accounts) racing the rent that pays that rental's debt
    (station, banks, rentals, accounts): never a deadlock (PostgreSQL), and whichever commits first the wallet
    ends as if the bank had been returned late and the new deposit held: the refund cancels the debt first, or
    pays back what the rent paid."""
    one, user, lost = await _owing(shop, "+260971560007", "5607")
    two = await shop.station("5608", slots=10, banks=8)
    funded = 3 * (LOST_OWED + DEPOSIT)
    await _fund(shop, user, funded)
    shop.t = 5 * HOUR
    for cab in (one, two):
        await shop.world.apply(cab.hb(), shop.now)
    rented, told = await asyncio.gather(shop.rent(user, (one if where == "the same station" else two).sid, "hop:r"),
                                        shop.give_back(one, lost.bank_serial))
    back = await shop.rental(lost.ref)
    assert told == "returned" and back.state == "found" and back.owed == 0 and rented.state == "ejecting"
    late_return = back.bill["from_deposit"] + back.bill["owed"]        # billing.Bill.due_now of the late return
    assert await shop.wallet(user) == funded - late_return and await shop.held() == DEPOSIT
    await shop.books_ok()
