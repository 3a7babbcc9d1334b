"""A station played in SQL: messages built as a cabinet sends them (and parsed by the real wire checks), the
hooks the rental layer would get, recorded."""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.domain.stations import ejects, events, fleet, inventory, wire
from enerlectra.domain.work import unit_of_work

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
RULES = ejects.Rules(min_soc=80, ttl=timedelta(seconds=30), unknown_after=timedelta(seconds=35),
                     offline_after=timedelta(seconds=180))


# What a station's clock says unless a test sets one: later than any `at(...)` and than the real clock today,
# so a heartbeat is stamped after every eject's expires_at (it may decide an unknown one).
STATION_CLOCK = max(int(time.time()), int(T0.timestamp())) + 86_400


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Recorded:
    """The hooks, as the rental layer would get them: (what, req_id or serial, ...)."""
    calls: list[tuple] = field(default_factory=list)

    async def ejected(self, s, req) -> None:
        self.calls.append(("ejected", req.req_id))

    async def eject_failed(self, s, req) -> None:
        self.calls.append(("eject_failed", req.req_id, req.state, req.reason))

    said_at: dict[str, datetime] = field(default_factory=dict)     # serial -> the station's time of its return

    async def returned(self, s, bank, station, slot, soc, said_at) -> None:
        self.calls.append(("returned", bank.serial, station.code, slot, soc))
        self.said_at[bank.serial] = said_at


_seq = itertools.count(1)


class Cabinet:
    """One station's messages. `banks`: slot -> (serial, soc) or None."""

    def __init__(self, sid: str, slots: int, boot: str = "b1"):
        self.sid, self.slots, self.boot = sid, slots, boot
        self.banks: dict[int, tuple[str, int] | None] = {n: None for n in range(1, slots + 1)}
        self.faults: dict[int, str | None] = {}
        self.ts: int | None = None          # the station's clock (epoch s) on what it sends; None: STATION_CLOCK

    def envelope(self, **body) -> dict:
        return {"v": 1, "sid": self.sid, "ts": self.ts or STATION_CLOCK, "seq": next(_seq), **body}

    def hb(self) -> wire.Message:
        slots = [{"n": n, "pb": b[0] if b else None, "soc": b[1] if b else None,
                  "state": ("fault" if self.faults.get(n) else "full" if b else "empty"), "fault": self.faults.get(n),
                  "health": 97 if b else None} for n, b in self.banks.items()]
        return self.parse("hb", self.envelope(slots=slots))

    def evt(self, type_: str, evt_seq: int | None = None, **body) -> wire.Message:
        seq = evt_seq if evt_seq is not None else next(_seq)
        return self.parse("evt", self.envelope(type=type_, evt_id=f"{self.sid}:{self.boot}:{seq}", **body))

    def status(self, online: bool) -> wire.Message:
        return self.parse("status", {"online": online})

    def parse(self, kind: str, body: dict) -> wire.Message:
        return wire.parse(wire.topic_of(self.sid, kind), json.dumps(body).encode())


def serials(prefix: str, count: int) -> list[str]:
    return [f"PB{prefix}{n:04d}" for n in range(1, count + 1)]


class World:
    """A database (the test's own), the rules and recorded hooks; each call one unit of work."""

    def __init__(self, database):
        url, schema = database
        self.engine = make_engine(url, schema=schema)
        self.db = make_sessionmaker(self.engine)
        self.hooks = Recorded()

    async def close(self) -> None:
        await self.engine.dispose()

    async def add(self, sid: str, slots: int) -> None:
        async with unit_of_work(self.db) as s:
            await fleet.add(s, sid, f"Shop {sid}", "Kalingalinga", slots)

    async def apply(self, msg: wire.Message, now: datetime):
        async with unit_of_work(self.db) as s:
            if msg.kind == "hb":
                return await inventory.apply_heartbeat(s, msg, now, self.hooks)
            if msg.kind == "status":
                return await inventory.apply_status(s, msg, now)
            return await events.apply_event(s, msg, now, self.hooks)

    async def eject(self, sid: str, now: datetime, rental_ref: str | None = "R-1"):
        async with unit_of_work(self.db) as s:
            req, command = await ejects.request_eject(s, sid, RULES, now, rental_ref)
            return req, command

    async def sweep(self, now: datetime) -> tuple[list[str], list[str]]:
        async with unit_of_work(self.db) as s:
            return await ejects.sweep_unknown(s, RULES, now), await inventory.sweep_offline(s, RULES, now)

