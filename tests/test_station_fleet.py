"""The station link against the fake fleet (simulator/stations, the other side of protocol v1) on the tests'
broker: an eject and a return at another station, a lost result decided by the inventory, a lock fault and a
latch that does not let go, and a cabinet that loses power."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from enerlectra.db.models import Bank, EjectRequest, Slot, Station
from simulator.stations.station import FakeStation
from tests.conftest import random_station_code
from tests.test_station_link import until


async def fleet_station(world, mqtt_url, banks: int = 2, slots: int = 4, hand=None) -> FakeStation:
    code = random_station_code()
    await world.add(code, slots)
    station = FakeStation(code, slots, mqtt_url=mqtt_url, heartbeat_seconds=30, hand=hand)
    for n in range(1, banks + 1):
        station.cabinet.load(n, f"PB{int(code):06d}{n:02d}", 95)
    await station.start()
    assert await until(lambda: _online(world, code))
    return station


async def _online(world, code: str) -> bool:
    async with world.db() as s:
        st = await s.scalar(select(Station).where(Station.code == code))
        return bool(st.online and st.last_heartbeat_at)


async def request_state(world, req_id: str) -> str:
    async with world.db() as s:
        return await s.scalar(select(EjectRequest.state).where(EjectRequest.req_id == req_id))


async def settled(world, req_id: str, seconds: float = 20.0) -> str:
    async def done():
        state = await request_state(world, req_id)
        return state if state not in ("pending", "unknown") else None
    return await until(done, seconds)


async def test_an_eject_and_a_return_at_another_station(world, link, mqtt_url):
    hand: dict = {}
    here = await fleet_station(world, mqtt_url, hand=hand)
    there = await fleet_station(world, mqtt_url, banks=0, hand=hand)
    try:
        req = await link.eject(here.sid, rental_ref="R-1")
        assert await settled(world, req.req_id) == "ok"
        [pb] = list(hand)
        slot = await there.return_bank(pb)
        async def back():
            async with world.db() as s:
                return await s.scalar(select(Bank).where(Bank.serial == pb, Bank.slot_n == slot,
                                                         Bank.state == "available"))
        assert await until(back)
    finally:
        await here.stop()
        await there.stop()
    assert world.hooks.calls[0] == ("ejected", req.req_id)
    assert world.hooks.calls[1][:3] == ("returned", pb, there.sid)
    assert len(world.hooks.calls) == 2


@pytest.mark.parametrize("mode, state", [("lost_result", "ok"), ("duplicate_result", "ok"),
                                         ("not_popped", "failed"), ("lock_fault", "failed")])
async def test_each_way_an_eject_goes(world, link, mqtt_url, mode, state):
    station = await fleet_station(world, mqtt_url)
    try:
        station.faults.next(mode)
        req = await link.eject(station.sid)
        assert await settled(world, req.req_id) == state
        await asyncio.sleep(0.3)                          # a duplicate, had it counted, would show by now
    finally:
        await station.stop()
    told = [c for c in world.hooks.calls if c[1] == req.req_id]
    assert len(told) == 1 and told[0][0] == ("ejected" if state == "ok" else "eject_failed")
    if mode == "lock_fault":
        async with world.db() as s:
            faults = list(await s.scalars(select(Slot.fault).where(Slot.station_id == req.station_id,
                                                                   Slot.n == req.slot_n)))
        assert faults == ["lock_motor"]


async def test_a_cabinet_that_loses_power_goes_offline_and_comes_back(world, link, mqtt_url):
    station = await fleet_station(world, mqtt_url)
    try:
        await station.crash()
        async def offline():
            async with world.db() as s:
                return await s.scalar(select(Station.id).where(Station.code == station.sid,
                                                               Station.online.is_(False)))
        assert await until(offline, 15)
        await station.comeback()
        assert await until(lambda: _online(world, station.sid))
    finally:
        await station.stop()
