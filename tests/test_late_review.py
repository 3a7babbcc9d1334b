"""Review of branch `late` (returns billed at the station's time, the station link's persistent session).

On the tests' broker (`mqtt_url`: the embedded amqtt, or TEST_MQTT_URL's Mosquitto): the link acknowledges a
QoS 1 event only once it applied it, so one whose link died (or failed) before that is handed over again and
applied once; one it dropped as bad is not handed over again; heartbeats are not queued for it. In SQL: a
return stamped (same boot) before the eject of the rental now running is stale (a second rental is not ended by
the first one's return), and a station clock far in the past bills from the station's last heartbeat,
not for nothing.
Each followed by a ledger verify."""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from enerlectra import faults
from enerlectra.db.models import Station, StationEvent, StationLog
from enerlectra.domain.rentals.hooks import RentalHooks
from tests.conftest import random_station_code
from tests.stations_helpers import T0
from tests.test_station_link import OnBroker, until
from ussd_app.station_link import StationLink

HOUR, MIN = 3600, 60
START = int(T0.timestamp())


class Linked:
    """A subscribing link with `hooks` (default: the rental hooks), from connected until the block ends."""

    def __init__(self, settings, shop, hooks=None):
        self.link = StationLink(settings, shop.db, hooks=hooks or RentalHooks(settings), tick_seconds=3600)

    async def __aenter__(self) -> Linked:
        self.task = asyncio.create_task(self.link.run())
        await asyncio.wait_for(self.link.connected.wait(), 15)
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class DiesApplying(RentalHooks):
    """The link process dies in the middle of applying the first return it gets (the transaction open, nothing
    committed): its task is cancelled there, as a killed process's would never reach its commit."""

    task: asyncio.Task | None = None

    async def returned(self, *args) -> None:
        self.task.cancel()
        await asyncio.sleep(60)


async def rented(shop, code: str, msisdn: str):
    cab = await shop.station(code, slots=4, banks=1)
    user = await shop.renter(msisdn, 50_000)
    view = await shop.rent(user, code, f"hop:{msisdn}")
    assert await shop.eject_result(cab, view.ref) == "ok"          # the rental runs from T0
    return cab, view


async def stored(shop, evt_id: str) -> int:
    async with shop.db() as s:
        return await s.scalar(select(func.count()).select_from(StationEvent).where(StationEvent.evt_id == evt_id))


async def booted(shop, code: str, boot: str) -> bool:
    async with shop.db() as s:
        return await s.scalar(select(Station.boot_id).where(Station.code == code)) == boot


async def ended(shop, ref: str) -> bool:
    return (await shop.rental(ref)).state == "returned"


@pytest.mark.parametrize("how", ["dies", "fails"])
async def test_a_return_the_link_did_not_apply_is_handed_over_again_and_applied_once(shop, settings, mqtt_url, how):
    """aiomqtt acknowledged a message as it arrived: a link that died before applying it lost it (the return
    billed hours later, at a heartbeat's time). `dies`: its process is killed mid-transaction, another link with
    the same session gets it; `fails`: its transaction fails (the settling killed after the ledger post), the
    same link reconnects and gets it again."""
    settings = settings.with_(mqtt_url=mqtt_url)
    code = random_station_code()
    cab, view = await rented(shop, code, f"+26097155000{'12'[how == 'fails']}")
    cab.banks[1], cab.ts, shop.t = (view.bank_serial, 40), START + 90 * MIN, 2 * HOUR
    ret = cab.evt("return", slot=1, pb=view.bank_serial, soc=40)
    async with OnBroker(mqtt_url, cab) as st:
        if how == "dies":
            hooks = DiesApplying(settings)
            dying = Linked(settings, shop, hooks)
            async with dying:
                hooks.task = dying.task
                await st.send("evt", ret.body)
                await asyncio.wait_for(asyncio.gather(dying.task, return_exceptions=True), 20)
            assert (await shop.rental(view.ref)).state == "active" and await stored(shop, ret.body["evt_id"]) == 0
            async with Linked(settings, shop):
                assert await until(lambda: ended(shop, view.ref), 20), "the event the dead link held was lost"
        else:
            faults.arm("rentals.settle.after_post")
            try:
                async with Linked(settings, shop):
                    await st.send("evt", ret.body)
                    assert await until(lambda: ended(shop, view.ref), 20), "the failed event was not handed again"
            finally:
                faults.disarm()
    rental = await shop.rental(view.ref)
    assert rental.ended_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(minutes=90)   # the station's time
    assert rental.bill["minutes"] == 90 and await shop.revenue() == rental.bill["total"] == 1_000
    assert await stored(shop, ret.body["evt_id"]) == 1 and await shop.held() == 0
    await shop.books_ok()


async def test_a_message_the_link_dropped_is_not_handed_over_again(shop, settings, mqtt_url, caplog):
    """Acknowledged once dropped (bad, or from no station we know): a poison message is not redelivered for ever."""
    settings = settings.with_(mqtt_url=mqtt_url)
    code, stranger = random_station_code(), random_station_code()
    cab, _ = await rented(shop, code, "+260971550003")
    strange = cab.evt("fault", slot=1, code="x").body | {"sid": stranger, "evt_id": f"{stranger}:b1:1"}
    async with OnBroker(mqtt_url, cab) as st:
        for boot in ("first", "second"):
            caplog.clear()
            with caplog.at_level(logging.WARNING, "enerlectra.stations"):
                async with Linked(settings, shop):
                    if boot == "first":
                        await st.send("evt", b"not json")
                        await st.client.publish(f"enx/v1/st/{stranger}/evt", json.dumps(strange), qos=1)
                    cab.boot = boot
                    await st.evt("boot")
                    assert await until(lambda: booted(shop, code, cab.boot), 20)
            drops = [r.getMessage() for r in caplog.records if "dropped a message" in r.getMessage()
                     and any(f"/{sid}/" in r.getMessage() for sid in (code, stranger))]   # not others' retained
            assert len(drops) == (2 if boot == "first" else 0), drops
    await shop.books_ok()


async def test_a_failed_eject_is_applied_once_and_the_link_stays_connected(shop, settings, mqtt_url, caplog):
    """An eject_result applied as "failed" is an outcome, not a failure of the link: acknowledged, no reconnect."""
    settings = settings.with_(mqtt_url=mqtt_url)
    code = random_station_code()
    cab = await shop.station(code, slots=4, banks=1)
    user = await shop.renter("+260971550008", 50_000)
    view = await shop.rent(user, code, "hop:failed")
    cmd = shop.command(view.ref)
    with caplog.at_level(logging.INFO, "enerlectra.stations"):
        async with OnBroker(mqtt_url, cab) as st, Linked(settings, shop):
            await st.evt("eject_result", slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"], ok=False,
                         reason="lock_motor")
            assert await until(lambda: cancelled(shop, view.ref), 20)
            await asyncio.sleep(1.5)                                  # a reconnect would have come by now
    lines = [r.getMessage() for r in caplog.records]
    assert sum("station link connected" in m for m in lines) == 1, lines
    assert not any("failed" in m and "asked again" in m for m in lines), lines
    assert await shop.held() == 0
    await shop.books_ok()


async def cancelled(shop, ref: str) -> bool:
    return (await shop.rental(ref)).state == "cancelled"


async def test_heartbeats_sent_while_the_link_is_down_are_not_queued_for_it(shop, settings, mqtt_url):
    """A heartbeat is QoS 0 (the link subscribes to them at 0, so even one a station sent at 1 is not kept): a
    stale inventory must not be applied hours later; only the queued events are."""
    settings = settings.with_(mqtt_url=mqtt_url)
    code = random_station_code()
    cab, view = await rented(shop, code, "+260971550004")
    async with Linked(settings, shop):
        pass                                                        # the session and its subscriptions exist
    async with OnBroker(mqtt_url, cab) as st:
        cab.banks[2], cab.ts = (view.bank_serial, 40), START + 30 * MIN
        await st.send("hb", cab.hb().body, qos=0)
        await st.send("hb", cab.hb().body, qos=1)
        cab.boot = "after"
        await st.evt("boot")                                        # queued: all before it were too, if any
        shop.t = 2 * HOUR
        async with Linked(settings, shop):
            assert await until(lambda: booted(shop, code, "after"), 20)
    assert (await shop.rental(view.ref)).state == "active", "a heartbeat was queued and applied late"
    await shop.books_ok()


# how a return event into the slot comes after rental 2's eject: rental 1's, applied before or not, under its
# evt_id or a new one; or rental 2's own, its renter putting the bank back at once; what it does, rental 2 after
LATE_RETURNS = [
    ("rental 1's, first heard now (a second link behind the first)", False, None, 40 * MIN, "stale", "active"),
    ("rental 1's, heard before, delivered again", True, None, 40 * MIN, "duplicate", "active"),
    ("rental 1's, heard before, sent again under a new evt_id", True, "b1:98", 40 * MIN, "stale", "active"),
    ("rental 2's, put back 10 s after its eject", False, "b1:99", 50 * MIN + 10, "returned", "returned"),
    # after a reboot the stamps are not comparable (a dead clock battery): it counts, as a heartbeat would
    ("stamped earlier by another boot", False, "b2:5", 40 * MIN, "returned", "returned"),
    # before both ejects: a clock gone wrong, not rental 1's return; it counts (billed by return_time's floor)
    ("stamped before both ejects", False, "b1:97", -10 * MIN, "returned", "returned"),
]


@pytest.mark.parametrize("case, heard, new_id, stamp, outcome, after", LATE_RETURNS,
                         ids=["rental 1 first heard now", "rental 1 again", "rental 1 under a new evt_id",
                              "rental 2 put back at once", "another boot", "before both ejects"])
async def test_an_earlier_rentals_return_heard_after_the_bank_was_rented_again_ends_nothing(
        shop, case, heard, new_id, stamp, outcome, after):
    """Rental 1 returned (its heartbeat showed it), the bank rented again from the same slot; then rental 1's
    return event arrives, stamped before rental 2's eject was asked. It must not end rental 2 (billed from its
    start: for nothing, its deposit back, while its renter holds the bank). One stamped after is a return."""
    code = random_station_code()
    cab, first = await rented(shop, code, "+260971550005")
    cab.ts = START + 40 * MIN
    ret = cab.evt("return", slot=1, pb=first.bank_serial, soc=40)
    cab.banks[1], shop.t = (first.bank_serial, 100), 41 * MIN            # charged: rentable again
    await shop.world.apply(cab.hb(), shop.now)                      # rental 1 back, by its heartbeat
    assert (await shop.rental(first.ref)).state == "returned"
    if heard:
        assert await shop.world.apply(ret, shop.now) == "in_place"
    other = await shop.renter("+260971550006", 50_000)
    shop.t, cab.ts = 50 * MIN, START + 50 * MIN
    await shop.world.apply(cab.hb(), shop.now)                      # online, the bank in slot 1
    second = await shop.rent(other, code, "hop:second")
    assert await shop.eject_result(cab, second.ref) == "ok"
    shop.t = 55 * MIN
    late = cab.parse("evt", ret.body | {"evt_id": f"{code}:{new_id}", "ts": START + stamp}) if new_id else ret
    assert await shop.world.apply(late, shop.now) == outcome
    assert (await shop.rental(second.ref)).state == after, "rental 2 was ended by rental 1's return"
    assert await shop.held() == (10_000 if after == "active" else 0)      # rental 2's deposit
    await shop.books_ok()


async def test_a_station_clock_far_in_the_past_bills_from_its_last_heartbeat_not_for_nothing(shop):
    """A return stamped long before the rental began (a tampered cabinet, a dead RTC) was billed from the rental's
    start: 0 minutes, nothing to pay. The station's heartbeat an hour in did not show the bank, so it went in
    after that: billed from then, with the clock-skew alert."""
    code = random_station_code()
    cab, view = await rented(shop, code, "+260971550007")
    shop.t = HOUR
    await shop.world.apply(cab.hb(), shop.now)                      # slot 1 empty: the bank still out
    shop.t, cab.ts = 90 * MIN, START - 30 * 24 * HOUR                # a month before the rental began
    cab.banks[2] = (view.bank_serial, 40)
    assert await shop.world.apply(cab.evt("return", slot=2, pb=view.bank_serial, soc=40), shop.now) == "returned"
    rental = await shop.rental(view.ref)
    assert rental.ended_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(hours=1)
    assert rental.bill["minutes"] == 60 and rental.bill["total"] > 0
    async with shop.db() as s:
        alerts = (await s.scalars(select(StationLog.detail).where(StationLog.detail.like("clock skew%")))).all()
    assert len(alerts) == 1 and "last heartbeat" in alerts[0]
    assert await shop.held() == 0
    await shop.books_ok()
