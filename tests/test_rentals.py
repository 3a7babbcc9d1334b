"""The rental kernel (issue 20) end to end on SQL-played stations (the real station code, the real hooks):
renting, the eject's outcomes, returns billed by billing's table, extensions, losses, retransmissions,
concurrency and a process killed between the ledger post and the commit. After each: the ledger verifies and
the held deposits equal the open rentals' deposits."""
from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from sqlalchemy import func, select, update

from enerlectra import faults, i18n
from enerlectra.db.models import Account, JournalEntry, Rental, SmsOutbox
from enerlectra.domain.rentals import holds, notices, service, texts
from enerlectra.domain.rentals.hooks import RentalHooks
from enerlectra.domain.rentals.service import ExtendRefused, NoOpenRental, RentRefused
from enerlectra.text.gsm7 import is_gsm7, septets
from tests.rentals_helpers import Shop
from ussd_app import appkeys, cli
from workers import rentals as rental_jobs
from workers import runtime

HOUR, MIN = 3600, 60
DEPOSIT = 10_000                  # the default ZMW tariff: K100 deposit, K5/hour, K25/day, K2 late hour, K350 bank


@pytest.fixture
async def shop(database, settings, monkeypatch):
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


async def deposit_entries(shop) -> int:
    async with shop.db() as s:
        return await s.scalar(select(func.count()).select_from(JournalEntry)
                              .where(JournalEntry.kind == "rental_deposit"))


async def sms_to(shop, user) -> list[str]:
    async with shop.db() as s:
        return list((await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == user.msisdn,
                                                                  SmsOutbox.kind == "rental")
                                     .order_by(SmsOutbox.id))).all())


# -- renting and the eject -------------------------------------------------------------------------------

async def test_rent_holds_the_deposit_and_the_bank_comes_out_of_the_slot_the_sms_names(shop):
    cab = await shop.station("5101", slots=4, banks=2)
    user = await shop.renter("+260971500001", 50_000)
    tariff, station = await service.quote(shop.db, user, "5101")
    assert (tariff.deposit, station.free_banks, station.online) == (DEPOSIT, 2, True)
    view = await shop.rent(user, "5101", "hop:1")
    assert (view.state, view.eject_state, view.deposit, view.station_code) == ("ejecting", "pending", DEPOSIT, "5101")
    assert view.ref.startswith("R-") and view.slot in (1, 2) and view.bank_serial
    assert await shop.wallet(user) == 40_000 and await shop.held() == DEPOSIT
    assert await shop.eject_result(cab, view.ref) == "ok"
    now = await service.wait_for_eject(shop.db, view.ref, 0)
    assert (now.state, now.eject_state, now.started_at) == ("active", "ok", shop.now)
    assert (await service.current(shop.db, user)).ref == view.ref
    assert f"slot {view.slot}" in (await sms_to(shop, user))[-1]
    await shop.books_ok()


@pytest.mark.parametrize("reason", ["lock_motor", "slot_empty", "expired"])
async def test_a_failed_eject_gives_the_whole_deposit_back_once(shop, reason):
    cab = await shop.station("5102", slots=4, banks=2)
    user = await shop.renter("+260971500002", 20_000)
    view = await shop.rent(user, "5102", "hop:2")
    assert await shop.eject_result(cab, view.ref, ok=False, reason=reason, evt_seq=7001) in ("failed", "expired")
    assert await shop.eject_result(cab, view.ref, ok=False, reason=reason, evt_seq=7001) == "duplicate"  # evt_id
    assert await shop.eject_result(cab, view.ref, ok=False, reason=reason) == "duplicate"       # another evt_id
    assert (await shop.rental(view.ref)).state == "cancelled"
    assert await shop.wallet(user) == 20_000 and await shop.held() == 0
    assert "deposit K100.00 is back" in (await sms_to(shop, user))[-1]
    assert await service.current(shop.db, user) is None
    await shop.books_ok()


@pytest.mark.parametrize("bank_gone, state, wallet", [(True, "active", 10_000), (False, "cancelled", 20_000)])
async def test_an_unknown_eject_is_decided_by_the_inventory(shop, bank_gone, state, wallet):
    cab = await shop.station("5103", slots=4, banks=1)
    user = await shop.renter("+260971500003", 20_000)
    view = await shop.rent(user, "5103", "hop:3")
    shop.t = 40
    await shop.world.sweep(shop.now)                           # no result in 35 s: unknown, inventory asked
    assert (await service.current(shop.db, user)).eject_state == "unknown"
    if bank_gone:
        cab.banks[view.slot] = None
    await shop.world.apply(cab.hb(), shop.now)
    assert (await shop.rental(view.ref)).state == state
    assert await shop.wallet(user) == wallet and await shop.held() == DEPOSIT - (wallet - 10_000)
    await shop.books_ok()


async def test_a_publish_that_fails_leaves_the_rental_to_the_inventory(shop):
    cab = await shop.station("5119", slots=4, banks=1)
    user = await shop.renter("+260971500020", 20_000)

    async def link_down(command):
        raise ConnectionError("not connected")
    view = await service.rent(shop.db, user, "5119", "hop:down", link_down)      # the renter still gets an answer
    assert (view.state, await shop.held()) == ("ejecting", DEPOSIT)
    shop.t = 40
    await shop.world.sweep(shop.now)
    await shop.world.apply(cab.hb(), shop.now)                  # the bank never left its slot: deposit back
    assert (await shop.rental(view.ref)).state == "cancelled" and await shop.wallet(user) == 20_000
    await shop.books_ok()


@pytest.mark.parametrize("setup, code, needed", [
    ("unknown", "unknown_station", 0), ("offline", "offline", 0), ("empty", "no_bank", 0),
    ("flat", "no_bank", 0), ("short", "short", 2_500), ("tz", "wrong_country", 0), ("open", "open_rental", 0),
])
async def test_refusals_are_clear_and_move_no_money(shop, setup, code, needed):
    cab = await shop.station("5104", slots=4, banks=0 if setup == "empty" else 2, soc=50 if setup == "flat" else 100)
    if setup == "offline":
        await shop.world.apply(cab.status(False), shop.now)
    user = await shop.renter("+255712500004" if setup == "tz" else "+260971500004",
                             7_500 if setup == "short" else 30_000)
    if setup == "open":
        await shop.rent(user, "5104", "hop:first")
    before = await shop.wallet(user)
    for attempt in (lambda: service.quote(shop.db, user, "9999" if setup == "unknown" else "5104"),
                    lambda: shop.rent(user, "9999" if setup == "unknown" else "5104", "hop:4")):
        with pytest.raises(RentRefused) as refused:
            await attempt()
        assert (refused.value.code, refused.value.needed) == (code, needed)
    assert await shop.wallet(user) == before
    async with shop.db() as s:
        made = await s.scalar(select(func.count()).select_from(Rental).where(Rental.user_id == user.id))
    assert made == (1 if setup == "open" else 0)
    await shop.books_ok()


# -- retransmissions and concurrency ---------------------------------------------------------------------

async def test_the_same_key_again_or_at_once_makes_one_rental_and_one_deposit(shop, database, settings,
                                                                              monkeypatch):
    await shop.station("5105", slots=8, banks=8)
    user = await shop.renter("+260971500005", 50_000)
    first = await shop.rent(user, "5105", "hop:5")
    assert (await shop.rent(user, "5105", "hop:5")).ref == first.ref
    other = await shop.renter("+260971500006", 50_000)
    both = await asyncio.gather(*(shop.rent(other, "5105", "hop:6") for _ in range(4)))
    assert len({v.ref for v in both}) == 1
    # Redis plays no part: a new process (its own engine, nothing cached) finds the rental by its key in SQL
    again = Shop(database, settings, monkeypatch)
    try:
        assert (await again.rent(user, "5105", "hop:5")).ref == first.ref
    finally:
        await again.close()
    with pytest.raises(service.KeyTaken):                               # another user's key: never their rental
        await shop.rent(await shop.renter("+260971500017", 50_000), "5105", "hop:5")
    long_key = "hop:" + "9" * 300                                  # any length: stored as its digest
    third = await shop.renter("+260971500008", 50_000)
    assert (await shop.rent(third, "5105", long_key)).ref == (await shop.rent(third, "5105", long_key)).ref
    assert await deposit_entries(shop) == 3 and len(shop.sent) == 3        # one eject published per rental
    assert await shop.wallet(user) == 40_000 and await shop.wallet(other) == 40_000
    await shop.books_ok()


async def test_twenty_renters_at_eight_banks_get_eight_rentals_and_twelve_clear_refusals(shop):
    await shop.station("5106", slots=10, banks=8)
    renters = [await shop.renter(f"+2609715010{n:02d}", 15_000) for n in range(20)]

    async def one(n, user):
        try:
            return await shop.rent(user, "5106", f"hop:20:{n}")
        except RentRefused as refused:
            return refused.code
    got = await asyncio.gather(*(one(n, u) for n, u in enumerate(renters)))
    rentals = [v for v in got if not isinstance(v, str)]
    assert len(rentals) == 8 and [c for c in got if isinstance(c, str)] == ["no_bank"] * 12
    assert len({v.bank_serial for v in rentals}) == 8 and len({v.slot for v in rentals}) == 8
    wallets = sorted([await shop.wallet(u) for u in renters])
    assert wallets == [5_000] * 8 + [15_000] * 12 and await shop.held() == 8 * DEPOSIT
    await shop.books_ok()


# -- returns and billing through the flow ----------------------------------------------------------------

async def out(shop, cab, msisdn: str, money: int = 100_000):
    user = await shop.renter(msisdn, money)
    view = await shop.rent(user, cab.sid, f"hop:{msisdn}")
    await shop.eject_result(cab, view.ref)
    return user, view


# held (seconds), extension (at seconds, hours), expected total, deposit back, from the wallet beyond it
BILLS = [
    ("free minutes", 5 * MIN, None, 0, DEPOSIT, 0),
    ("two hours", 2 * HOUR, None, 1_000, 9_000, 0),
    ("daily cap", 20 * HOUR, None, 2_500, 7_500, 0),
    ("late", 30 * HOUR, None, 6_200, 3_800, 0),
    ("extension", 27 * HOUR, (23 * HOUR, 4), 4_000, 8_000, 0),
    ("beyond the deposit", 72 * HOUR, None, 17_100, 0, 7_100),
]


@pytest.mark.parametrize("what, held, extension, total, back, beyond", BILLS, ids=[b[0] for b in BILLS])
async def test_a_return_is_billed_by_billing_and_settled_once(shop, what, held, extension, total, back, beyond):
    cab = await shop.station("5107", slots=4, banks=2)
    other = await shop.station("5108", slots=4, banks=0)
    user, view = await out(shop, cab, "+260971500007")
    paid_ahead = 0
    if extension:
        shop.t = extension[0]
        due = (await service.current(shop.db, user)).due_at
        twins = await asyncio.gather(*(service.extend(shop.db, user, extension[1], "hop:ext") for _ in range(3)))
        extended = twins[0]
        assert twins == [extended] * 3 and await service.extend(shop.db, user, extension[1], "hop:ext") == extended
        assert (extended.due_at - due).total_seconds() == extension[1] * HOUR
        paid_ahead = 2_000
    shop.t = held
    assert (await service.current(shop.db, user)).cost_so_far == total
    assert await shop.give_back(other, view.bank_serial) == "returned"            # at another station
    assert await shop.give_back(other, view.bank_serial) == "in_place"            # the same bank again
    rental = await shop.rental(view.ref)
    assert (rental.state, rental.bill["total"], rental.bill["released"], rental.owed) == ("returned", total, back, 0)
    assert await shop.wallet(user) == 100_000 - paid_ahead - DEPOSIT + back - beyond
    assert await shop.revenue() == total and await shop.held() == 0
    assert "returned at Shop 5108" in (await sms_to(shop, user))[-1]
    assert await service.current(shop.db, user) is None
    await shop.books_ok()


async def test_what_the_wallet_cannot_pay_stays_owed_and_no_balance_goes_negative(shop):
    cab = await shop.station("5109", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500009", money=DEPOSIT + 1_000)
    shop.t = 72 * HOUR
    await shop.give_back(cab, view.bank_serial)
    rental = await shop.rental(view.ref)
    assert (rental.owed, await shop.wallet(user), await shop.revenue()) == (6_100, 0, 11_000)
    await shop.books_ok()


async def test_extension_refusals(shop):
    cab = await shop.station("5110", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500010", money=DEPOSIT + 1_000)
    for hours, at, code in ((0, HOUR, "hours"), (25, HOUR, "hours"), (4, HOUR, "short"), (1, 25 * HOUR, "late")):
        shop.t = at
        with pytest.raises(ExtendRefused) as refused:
            await service.extend(shop.db, user, hours, f"hop:x:{hours}:{at}")
        assert refused.value.code == code
    assert await shop.wallet(user) == 1_000
    with pytest.raises(NoOpenRental):
        await service.extend(shop.db, await shop.renter("+260971500011", 0), 1, "hop:none")


async def test_a_reported_loss_is_charged_once_and_a_later_return_refunds_all_but_the_time_used(shop):
    cab = await shop.station("5111", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500012", money=50_000)
    shop.t = 2 * HOUR
    lost = await service.report_lost(shop.db, user, "sms:1")
    assert (lost.state, lost.cost_so_far) == ("lost", 35_000)
    assert (await service.report_lost(shop.db, user, "sms:1")).ref == view.ref          # the same SMS again
    with pytest.raises(NoOpenRental):
        await service.report_lost(shop.db, user, "sms:2")                                 # another: none open
    assert await shop.wallet(user) == 50_000 - 35_000 and await shop.revenue() == 35_000
    shop.t = 3 * HOUR
    await shop.give_back(cab, view.bank_serial)                    # found after all: billed as returned (K15)
    assert await shop.wallet(user) == 50_000 - 1_500 and await shop.revenue() == 1_500
    assert "lost power bank came back" in (await sms_to(shop, user))[-1]
    await shop.books_ok()


# -- a process killed between the ledger post and the commit ---------------------------------------------

@pytest.fixture
def die_after_the_post():
    faults.arm("rentals.settle.after_post")
    yield
    faults.disarm()


async def test_a_return_killed_after_the_post_leaves_nothing_and_the_redelivery_settles_once(shop,
                                                                                            die_after_the_post):
    cab = await shop.station("5112", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500013")
    shop.t = 2 * HOUR
    with pytest.raises(faults.Killed):
        await shop.give_back(cab, view.bank_serial, evt_seq=9001)
    assert (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    assert await shop.revenue() == 0
    await shop.books_ok()
    assert await shop.give_back(cab, view.bank_serial, evt_seq=9001) == "returned"   # QoS 1: sent again
    assert (await shop.rental(view.ref)).state == "returned" and await shop.revenue() == 1_000
    await shop.books_ok()


async def test_a_lost_sweep_killed_after_the_post_leaves_nothing_and_the_next_run_bills_once(shop,
                                                                                             die_after_the_post):
    cab = await shop.station("5116", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500016", money=50_000)
    shop.t = 96 * HOUR
    with pytest.raises(faults.Killed):
        await notices.run(shop.db, shop.now, lost=True)
    assert (await shop.rental(view.ref)).state == "active" and await shop.revenue() == 0
    await shop.books_ok()
    assert await notices.run(shop.db, shop.now, lost=True) == 1
    assert await notices.run(shop.db, shop.now, lost=True) == 0
    assert (await shop.rental(view.ref)).state == "lost" and await shop.revenue() == 35_000
    assert await shop.wallet(user) == 15_000
    await shop.books_ok()


# -- finding stations, texts -----------------------------------------------------------------------------

async def test_recent_and_found_stations(shop):
    cab = await shop.station("5113", slots=4, banks=2)
    await shop.station("5114", slots=4, banks=0)
    user, view = await out(shop, cab, "+260971500014")
    assert [v.code for v in await service.recent_stations(shop.db, user)] == ["5113"]
    found = await service.find_stations(shop.db, "kalinga")
    assert [(v.code, v.free_banks) for v in found] == [("5113", 1), ("5114", 0)]
    assert await service.find_stations(shop.db, "  ") == []


class Renter:
    country, language = "ZM", "en"


@pytest.mark.parametrize("code", sorted(i18n.LANGUAGES))
def test_the_eject_texts_fit_one_sms_in_every_language(code):
    with i18n.language(code):
        found = [texts.ejecting_text(99),
                 texts.ejected_text(Renter(), 9_999_999, 99, "W" * 40, 2_000_000_000),
                 texts.eject_failed_text(Renter(), 9_999_999, 99_999_900, "ZMW")]
    with i18n.language("en"):
        english = [texts.ejecting_text(99), texts.ejected_text(Renter(), 9_999_999, 99, "W" * 40, 2_000_000_000),
                   texts.eject_failed_text(Renter(), 9_999_999, 99_999_900, "ZMW")]
    for text, en in zip(found, english):
        assert is_gsm7(text) and septets(text) <= 160 and "{" not in text, (code, septets(text), text)
        assert code == "en" or text != en


# -- reminders and the lost sweep (workers/rentals.py runs notices.run) ----------------------------------

async def test_reminders_go_once_each_and_an_overdue_bank_is_declared_lost_once(shop):
    cab = await shop.station("5115", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500015", money=50_000)
    steps = [(23 * HOUR, False, 0), (23 * HOUR + 45 * MIN, False, 1), (24 * HOUR, False, 0),
             (24 * HOUR + 16 * MIN, False, 1), (48 * HOUR + 16 * MIN, False, 1), (72 * HOUR, False, 1),
             (95 * HOUR, True, 0), (96 * HOUR, False, 0), (96 * HOUR, True, 1), (97 * HOUR, True, 0)]
    for t, lost, sent in steps:
        shop.t = t
        twice = await asyncio.gather(notices.run(shop.db, shop.now, lost=lost), notices.run(shop.db, shop.now,
                                                                                              lost=lost))
        assert sum(twice) == sent, (t, lost, twice)
    said = await sms_to(shop, user)
    assert [s.split(": ", 1)[1][:22] for s in said[1:]] == [
        "please return your pow", "your power bank is ove", "your power bank is ove", "return your power bank",
        "power bank declared lo"]
    rental = await shop.rental(view.ref)
    assert (rental.state, rental.bill["total"]) == ("lost", 35_000)
    assert await shop.wallet(user) == 50_000 - 35_000 and await shop.held() == 0
    await shop.books_ok()


async def test_the_app_gives_the_station_link_the_rental_hooks(client):
    assert isinstance(client.app[appkeys.STATION_HOOKS], RentalHooks)


async def test_ledger_verify_names_held_deposits_that_differ_from_the_open_rentals(shop, cli_env):
    await shop.station("5117", slots=4, banks=1)
    user = await shop.renter("+260971500018", 50_000)
    view = await shop.rent(user, "5117", "hop:verify")
    assert await asyncio.to_thread(cli.main, ["ledger", "verify"]) == 0
    async with shop.db() as s, s.begin():
        await s.execute(update(Rental).where(Rental.ref == view.ref).values(deposit=1))
    async with shop.db() as s:
        assert [str(p) for p in await holds.check_deposits(s)] == [
            "system:rental_deposits:ZMW: holds 10000 but open rentals' deposits are 1"]
    assert await asyncio.to_thread(cli.main, ["ledger", "verify"]) == 1


async def test_the_worker_jobs_remind_and_declare_lost(shop, settings):
    cab = await shop.station("5118", slots=4, banks=1)
    user, view = await out(shop, cab, "+260971500019", money=50_000)
    runtime.configure(settings)
    shop.t = 23 * HOUR + 50 * MIN
    assert await asyncio.to_thread(rental_jobs.remind_rentals) == 1
    assert await asyncio.to_thread(rental_jobs.sweep_lost_rentals) == 0
    shop.t = 96 * HOUR
    assert await asyncio.to_thread(rental_jobs.remind_rentals) == 0          # LOST is the sweep's
    assert await asyncio.to_thread(rental_jobs.sweep_lost_rentals) == 1
    assert (await shop.rental(view.ref)).state == "lost"
    await shop.books_ok()


# -- a random walk: any order of rents, ejects, returns, extensions, losses and time -------------------------

async def invariants(shop) -> None:
    await shop.books_ok()                                       # ledger verify + held deposits = open ones
    async with shop.db() as s:
        open_banks = (await s.scalars(select(Rental.bank_id).where(Rental.state.in_(("ejecting", "active"))))).all()
        negative = await s.scalar(select(func.count()).select_from(Account).where(Account.balance < 0,
                                                                                   Account.allow_negative.is_(False)))
    assert len(open_banks) == len(set(open_banks)) and negative == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_random_walk_keeps_the_books(shop, seed):
    rng = random.Random(seed)
    cabs = [await shop.station(f"52{seed}{n}", slots=5, banks=3) for n in range(2)]
    renters = [await shop.renter(f"+26097152{seed}{n:03d}", rng.choice((5_000, 15_000, 60_000))) for n in range(5)]
    keys = []
    for step in range(60):
        user, cab, action = rng.choice(renters), rng.choice(cabs), rng.random()
        shop.t += 60
        await shop.world.sweep(shop.now)                         # ejects with no result: unknown
        for c in cabs:                                           # heartbeats: the inventory decides those
            c.ts = int(shop.now.timestamp()) + 1
            await shop.world.apply(c.hb(), shop.now)
        mine = await service.current(shop.db, user)
        if action < 0.4:
            key = rng.choice(keys) if keys and rng.random() < 0.3 else f"hop:{seed}:{step}"
            keys.append(key)
            try:
                got = await shop.rent(user, cab.sid, key)
            except (RentRefused, service.KeyTaken):
                continue
            answer = rng.random()                                # the station answers, or not (unknown)
            if got.eject_state == "pending" and answer < 0.9:
                home = next(c for c in cabs if c.sid == got.station_code)       # a resent key: its own station
                await shop.eject_result(home, got.ref, ok=answer < 0.75, reason="lock_motor")
        elif action < 0.7 and mine and mine.state == "active":
            if any(b is None and not cab.faults.get(n) for n, b in cab.banks.items()):
                await shop.give_back(cab, mine.bank_serial)
        elif action < 0.8 and mine and mine.state == "active":
            with contextlib.suppress(ExtendRefused):
                await service.extend(shop.db, user, rng.randint(1, 30), f"hop:x:{seed}:{step}")
        elif action < 0.85 and mine and mine.state == "active":
            await service.report_lost(shop.db, user, f"sms:{seed}:{step}")
        else:
            shop.t += rng.choice((10, 60, 3_600, 6 * 3_600, 30 * 3_600))
            await notices.run(shop.db, shop.now)
            await notices.run(shop.db, shop.now, lost=True)
        await invariants(shop)
    async with shop.db() as s:
        states = dict((await s.execute(select(Rental.state, func.count()).group_by(Rental.state))).all())
    assert states.get("returned", 0) + states.get("lost", 0) + states.get("cancelled", 0) >= 1, states
