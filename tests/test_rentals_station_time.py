"""A return is billed at the station's time (issue 20, review2): the return event's ts, or the ts of the
heartbeat that showed the bank back, bounded by [the rental's start, when we heard it]. A clamp beyond the
rounding of a whole-second ts is one clock-skew alert in the station log; the receipt shows the billed time.
Each case also on a retransmission, a race with the heartbeat, and a process killed mid-settlement, followed
by a ledger verify."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from enerlectra import faults
from enerlectra.db.models import SmsOutbox, StationLog
from enerlectra.domain.pins import local_hhmm
from enerlectra.domain.rentals import notices
from enerlectra.domain.stations.wire import LATEST_TS
from tests.rentals_helpers import Shop
from tests.stations_helpers import T0, Cabinet

HOUR, MIN = 3600, 60
DEPOSIT = 10_000
START = int(T0.timestamp())              # the eject's result is applied at shop.t = 0: the rental starts at T0


@pytest.fixture
async def shop(database, settings, monkeypatch):
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


async def out(shop, sid: str, msisdn: str):
    cab = await shop.station(sid, slots=4, banks=1)
    user = await shop.renter(msisdn, 50_000)
    view = await shop.rent(user, sid, f"hop:{msisdn}")
    assert await shop.eject_result(cab, view.ref) == "ok"
    return cab, user, view


async def by_heartbeat(shop, cab: Cabinet, serial: str) -> None:
    """The return event was lost: the next heartbeat shows the bank in slot 2 (not the slot it left, which the
    stale-heartbeat guard watches), stamped with the station's clock (cab.ts)."""
    cab.banks[2] = (serial, 40)
    await shop.world.apply(cab.hb(), shop.now)


async def by_event(shop, cab: Cabinet, serial: str) -> None:
    assert await shop.give_back(cab, serial) == "returned"


async def skew_alerts(shop) -> list[str]:
    async with shop.db() as s:
        return list((await s.scalars(select(StationLog.detail).where(StationLog.kind == "alert",
                                                                     StationLog.detail.like("clock skew%")))).all())


async def receipt(shop, user) -> str:
    async with shop.db() as s:
        return (await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == user.msisdn)
                                .order_by(SmsOutbox.id.desc()))).first()


# case, the station's stamp (s after the start), when the link hears it (s after the start),
# billed at (s after the start), minutes, total, the clock-skew alert's words (None: no alert)
CASES = [
    ("on time", 90 * MIN, 90 * MIN + 1, 90 * MIN, 90, 1_000, None),
    ("heard 6 hours late", 90 * MIN, 6 * HOUR, 90 * MIN, 90, 1_000, None),
    ("heard a day late", 90 * MIN, 30 * HOUR, 90 * MIN, 90, 1_000, None),
    ("clock ahead of ours", 5 * HOUR, 90 * MIN, 90 * MIN, 90, 1_000, "after we heard it"),
    ("clock behind the start", -10 * MIN, 90 * MIN, 0, 0, 0, "before its rental began"),
    ("clock in the year 9999", LATEST_TS * 10 - START, 90 * MIN, 90 * MIN, 90, 1_000, "after we heard it"),
    ("a whole-second ts a second ahead", 90 * MIN + 1, 90 * MIN, 90 * MIN, 90, 1_000, None),
]


@pytest.mark.parametrize("how", [by_event, by_heartbeat], ids=["return event", "heartbeat"])
@pytest.mark.parametrize("case, stamp, heard, billed_at, minutes, total, alert", CASES, ids=[c[0] for c in CASES])
async def test_a_return_is_billed_at_the_stations_time_within_the_rental_and_our_clock(
        shop, how, case, stamp, heard, billed_at, minutes, total, alert):
    cab, user, view = await out(shop, "5301", "+260971530001")
    cab.ts, shop.t = START + stamp, heard
    await how(shop, cab, view.bank_serial)
    rental = await shop.rental(view.ref)
    ended = T0 + timedelta(seconds=billed_at)
    assert rental.state == "returned" and rental.ended_at.replace(tzinfo=T0.tzinfo) == ended
    assert (rental.bill["minutes"], rental.bill["total"], rental.bill["late_fee"]) == (minutes, total, 0)
    assert await shop.revenue() == total and await shop.held() == 0
    assert f" {local_hhmm(ended, user.country)}." in await receipt(shop, user)
    alerts = await skew_alerts(shop)
    assert [alert in a for a in alerts] == ([True] if alert else []), alerts
    await shop.books_ok()


async def test_a_late_return_sent_again_and_then_shown_by_heartbeats_is_billed_once_at_its_time(shop):
    cab, user, view = await out(shop, "5302", "+260971530002")
    cab.ts, shop.t = START + 5 * HOUR, 2 * HOUR                    # the station's clock runs 3 hours fast
    assert await shop.give_back(cab, view.bank_serial, evt_seq=7001) == "returned"
    for later in (3 * HOUR, 9 * HOUR):                            # QoS 1 again, then the inventory: nothing new
        shop.t, cab.ts = later, START + later + 3 * HOUR
        assert await shop.world.apply(cab.evt("return", 7001, slot=1, pb=view.bank_serial, soc=40),
                                      shop.now) == "duplicate"
        await shop.world.apply(cab.hb(), shop.now)
    rental = await shop.rental(view.ref)
    assert rental.bill["minutes"] == 120 and await shop.revenue() == rental.bill["total"] == 1_000
    assert len(await skew_alerts(shop)) == 1, "one clock-skew alert per return"
    await shop.books_ok()


async def test_a_return_event_and_a_heartbeat_that_both_show_it_bill_it_once(shop):
    """The link applies the queued return event while a heartbeat that shows the bank back lands: the station's
    row lock (PostgreSQL) orders them, whichever is first is the return, at its own stamp."""
    cab, user, view = await out(shop, "5303", "+260971530003")
    shop.t = 6 * HOUR
    cab.ts = START + 90 * MIN
    event = cab.evt("return", slot=2, pb=view.bank_serial, soc=40)
    cab.banks[2], cab.ts = (view.bank_serial, 40), START + 95 * MIN
    heartbeat = cab.hb()
    await asyncio.gather(shop.world.apply(event, shop.now), shop.world.apply(heartbeat, shop.now))
    rental = await shop.rental(view.ref)
    assert rental.state == "returned" and rental.bill["minutes"] in (90, 95), rental.bill
    assert await shop.revenue() == rental.bill["total"] == 1_000 and await shop.held() == 0
    await shop.books_ok()


async def test_a_late_return_killed_mid_settlement_is_billed_at_its_time_when_it_comes_again(shop):
    cab, user, view = await out(shop, "5304", "+260971530004")
    cab.ts, shop.t = START + 90 * MIN, 6 * HOUR
    faults.arm("rentals.settle.after_post")
    try:
        with pytest.raises(faults.Killed):
            await shop.give_back(cab, view.bank_serial, evt_seq=7004)
    finally:
        faults.disarm()
    assert (await shop.rental(view.ref)).state == "active" and await shop.held() == DEPOSIT
    await shop.books_ok()
    shop.t = 8 * HOUR                                             # the broker delivers it again, later still
    again = cab.evt("return", 7004, slot=1, pb=view.bank_serial, soc=40)
    assert await shop.world.apply(again, shop.now) == "returned"
    rental = await shop.rental(view.ref)
    assert rental.bill["minutes"] == 90 and await shop.revenue() == 1_000
    async with shop.db() as s:
        assert await s.scalar(select(func.count()).select_from(StationLog)
                              .where(StationLog.detail.like("clock skew%"))) == 0
    await shop.books_ok()


async def test_a_return_stamped_before_the_lost_sweep_and_heard_after_it_is_billed_at_its_time(shop):
    """The link was down past the loss: the sweep declared the bank lost, then the queued return came. The bank
    was back at 30 h by the station: billed as a return then (found.py), the lost bill's excess refunded."""
    cab, user, view = await out(shop, "5305", "+260971530005")
    shop.t = 96 * HOUR
    assert await notices.run(shop.db, shop.now, lost=True) == 1
    assert await shop.revenue() == 35_000                          # the lost bill: the device price
    cab.ts, shop.t = START + 30 * HOUR, 97 * HOUR
    assert await shop.give_back(cab, view.bank_serial) == "returned"
    rental = await shop.rental(view.ref)
    assert rental.state == "found" and rental.bill["minutes"] == 30 * 60, rental.bill
    assert rental.ended_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(hours=30)
    assert await shop.revenue() == rental.bill["total"] < 35_000
    assert await skew_alerts(shop) == []
    await shop.books_ok()
