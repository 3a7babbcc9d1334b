"""Any sequence of what a station and renters do (ejects, results true or contradicting, repeats, lost results,
sweeps, heartbeats, returns) keeps the station side straight: each reserved bank belongs to exactly one open
request and each open request holds its bank; a rented bank sits in no slot; every request is reported to the
rental layer at most once, as ejected exactly when it settled ok."""
from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from enerlectra.db.models import Bank, EjectRequest, Station
from enerlectra.domain.stations import ejects, wire
from tests.conftest import random_station_code
from tests.stations_helpers import Cabinet, World, at, serials

SLOTS = 4
steps = st.lists(st.one_of(
    st.tuples(st.just("eject")),
    st.tuples(st.just("result"), st.integers(0, 5), st.booleans(), st.sampled_from(sorted(wire.EJECT_REASONS))),
    st.tuples(st.just("hb"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("return"), st.integers(0, 5), st.integers(1, SLOTS)),
    st.tuples(st.just("repeat")),
    st.tuples(st.just("sweep")),
), max_size=14)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(plan=steps)
async def test_any_sequence_keeps_banks_and_requests_straight(database, plan):
    world = World(database)
    cab, t, reqs, out, last = Cabinet(random_station_code(), SLOTS), 1.0, [], [], None
    try:
        await world.add(cab.sid, SLOTS)
        for n, serial in enumerate(serials(cab.sid, 3), start=1):
            cab.banks[n] = (serial, 90)
        await world.apply(cab.status(True), at(0))
        await world.apply(cab.hb(), at(t))
        for step in plan:
            t += 1
            msg = None
            if step[0] == "eject":
                try:
                    req, command = await world.eject(cab.sid, at(t))
                    reqs.append((req, json.loads(command.payload)["pb"]))
                except ejects.Refused:
                    pass
            elif step[0] == "result" and reqs:
                req, serial = reqs[step[1] % len(reqs)]
                ok = step[2] and _pop(cab, out, req.slot_n, serial)
                msg = cab.evt("eject_result", req_id=req.req_id, ok=ok, slot=req.slot_n, pb=None,
                              reason=None if ok else step[3])
            elif step[0] == "hb":
                if step[2] and reqs:                          # an eject happened, its result was lost
                    req, serial = reqs[step[1] % len(reqs)]
                    _pop(cab, out, req.slot_n, serial)
                msg = cab.hb()
            elif step[0] == "return" and out and cab.banks[step[2]] is None:
                serial = out.pop(step[1] % len(out))
                cab.banks[step[2]] = (serial, 30)
                msg = cab.evt("return", slot=step[2], pb=serial, soc=30, ok=True)
            elif step[0] == "repeat" and last is not None:
                msg = last
            elif step[0] == "sweep":
                t += 40
                await world.sweep(at(t))
            if msg is not None:
                await world.apply(msg, at(t))
                last = msg if msg.kind == "evt" else last
            await _check(world, cab.sid)
    finally:
        await world.close()


def _pop(cab: Cabinet, out: list[str], slot: int, serial: str) -> bool:
    """The bank leaves its slot if it is still there (True)."""
    held = cab.banks.get(slot)
    if held is None or held[0] != serial:
        return False
    cab.banks[slot] = None
    out.append(serial)
    return True


async def _check(world: World, sid: str) -> None:
    async with world.db() as s:
        st_id = await s.scalar(select(Station.id).where(Station.code == sid))
        banks = (await s.scalars(select(Bank).where(Bank.serial.like(f"PB{sid}%")))).all()
        reqs = (await s.scalars(select(EjectRequest).where(EjectRequest.station_id == st_id))).all()
    open_banks = Counter(r.bank_id for r in reqs if r.state in ejects.OPEN)
    assert all(count == 1 for count in open_banks.values()), open_banks
    assert {b.id for b in banks if b.state == "reserved"} == set(open_banks)
    assert all(b.station_id is None for b in banks if b.state == "rented")
    told = Counter(call[1] for call in world.hooks.calls if call[0] in ("ejected", "eject_failed"))
    assert all(count == 1 for count in told.values()), told
    assert {c[1] for c in world.hooks.calls if c[0] == "ejected"} == {r.req_id for r in reqs if r.state == "ok"}
    assert set(told) == {r.req_id for r in reqs if r.state not in ejects.OPEN}
