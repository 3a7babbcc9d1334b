"""The console's Stations and Rentals pages at fleet size (issue 20 follow-up), and the CLI's station listings,
timed on a seeded database with bench.console's writer, timer and logged-in app.

    .venv/bin/python -m bench.console_stations [--check]
    .venv/bin/python -m bench.console_stations --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        [--schema bench_stations] [--check]

Seeds (a SQLite temp file, or a PostgreSQL schema of its own, dropped after unless --keep-schema): 100,000 users
(bench.console's), 2,000 stations of 8 to 24 slots (a few dozen offline, some slots faulted), 30,000 banks (about
three in four in a slot, the rest rented out, missing or lost), 1,000,000 rentals over a year (mostly returned;
cancelled, lost, owed, a few thousand active of which hundreds overdue, a few ejecting; a handful of heavy
renters), 2,000,000 station log lines and 2,000,000 station events, 200,000 eject requests (a few pending or
unknown). Bulk inserts through the driver; balances and the ledger are not seeded (the pages read neither).
Then every page of Stations and Rentals through the real app, an admin logged in (the list with its alerts, the
busiest station's page, the rentals list and its filters, a deep page, a heavy renter's profile), and the CLI's
`stations list` and `stations alerts` (in-process: engine, query, print; no interpreter start), each the median
of `--runs` after one warm-up against `--target-ms` (300).
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench import console
from enerlectra.db.engine import make_engine
from enerlectra.db.migrate import upgrade_async
from enerlectra.domain.rentals.tariff import Tariff

STATIONS, BANKS, RENTALS = 2_000, 30_000, 1_000_000
LOG_LINES, EVENTS, EJECTS = 2_000_000, 2_000_000, 200_000
OPEN_RECENT, OVERDUE, EJECTING = 2_500, 500, 30          # open rentals: out now, past due, bank coming out
MISSING, LOST_BANKS, OUT_NO_RENTAL = 300, 200, 20
HEAVY_RENTER = 7                                         # a user with hundreds of rentals (their profile)
BUSY = "1000"                                            # the station with the most rentals and log lines
QUIET = "2998"                                           # one with few
VACUUMED = ("users", "stations", "slots", "banks", "rentals", "station_log", "station_events", "eject_requests")
TARIFF = Tariff(currency="ZMW", deposit=5_000, per_hour=500, free_minutes=5, daily_cap=3_000, grace_minutes=15,
                late_per_hour=500, device_price=25_000, max_extension_hours=24)
LOG_KINDS = (("online", 12), ("offline", 12), ("fault", 10), ("fault_cleared", 9), ("alert", 6), ("incident", 1),
             ("boot", 8), ("note", 2))
EVENT_TYPES = ("eject_result", "return", "fault", "boot")
PAGES = {
    "page stations (list, alerts now, logged)": "/console/stations",
    f"page station {BUSY} (busiest)": f"/console/stations/{BUSY}",
    f"page station {QUIET} (quiet)": f"/console/stations/{QUIET}",
    "page rentals": "/console/rentals",
    "page rentals older than the middle": f"/console/rentals?before={RENTALS // 2}",
    "page rentals newer than the middle": f"/console/rentals?after={RENTALS // 2}",
    "page rentals returned, older than the middle": f"/console/rentals?state=returned&before={RENTALS // 2}",
    "page rentals state=returned": "/console/rentals?state=returned",
    "page rentals state=active": "/console/rentals?state=active",
    "page rentals state=ejecting": "/console/rentals?state=ejecting",
    "page rentals state=lost": "/console/rentals?state=lost",
    "page rentals state=cancelled": "/console/rentals?state=cancelled",
    f"page rentals station={BUSY}": f"/console/rentals?station={BUSY}",
    f"page rentals station={QUIET}": f"/console/rentals?station={QUIET}",
    f"page rentals returned at {QUIET}": f"/console/rentals?state=returned&station={QUIET}",
    f"page rentals ejecting at {QUIET}": f"/console/rentals?state=ejecting&station={QUIET}",
    f"page user {HEAVY_RENTER} (heavy renter)": f"/console/users/{HEAVY_RENTER}",
}
CLI = {"cli stations list": ["stations", "list"], "cli stations alerts": ["stations", "alerts"],
       "cli stations list --area Lusaka": ["stations", "list", "--area", "Lusaka"]}


def _weighted(pairs) -> list[str]:
    return [name for name, weight in pairs for _ in range(weight)]


def _station_of(rng: random.Random) -> int:
    """Skewed: station 1 (BUSY) busiest, the first hundred busier than the rest, the last one quiet."""
    r = rng.random()
    if r < 0.02:
        return 1
    if r < 0.30:
        return rng.randint(2, 100)
    return rng.randint(101, STATIONS - 1)


async def seed_fleet(writer: console.Writer, now: datetime, rng: random.Random) -> dict[str, int]:
    """Stations, slots and banks; returns the ids of the banks rented out now, by open rental's turn."""
    areas = ["Lusaka", "Kitwe", "Ndola", "Kabwe", "Chipata", "Livingstone", "Dar es Salaam", "Arusha", "Mwanza"]
    slots_of = {sid: rng.randint(8, 24) for sid in range(1, STATIONS + 1)}
    offline = set(rng.sample(range(2, STATIONS + 1), 40))
    await writer.rows("stations", ["id", "code", "name", "area", "country", "slots", "online", "online_changed_at",
                                   "last_heartbeat_at", "created_at"],
                      ((sid, str(999 + sid), f"Station {sid}", area, "TZ" if area in areas[6:] else "ZM",
                        slots_of[sid], sid not in offline, console._at(rng, now, 3 if sid in offline else 30),
                        now - timedelta(seconds=rng.randint(5, 3 * 86400 if sid in offline else 60)),
                        now - timedelta(days=400))
                       for sid in range(1, STATIONS + 1) for area in [areas[sid % len(areas)]]))
    places = [(sid, n) for sid, count in slots_of.items() for n in range(1, count + 1)]
    rng.shuffle(places)
    in_slots = BANKS - OPEN_RECENT - OVERDUE - MISSING - LOST_BANKS - OUT_NO_RENTAL
    banks, slot_rows = [], []
    for bid in range(1, BANKS + 1):
        placed = places[bid - 1] if bid <= in_slots else None
        out_state = ("rented" if bid <= in_slots + OPEN_RECENT + OVERDUE else "missing"
                     if bid <= in_slots + OPEN_RECENT + OVERDUE + MISSING else "lost"
                     if bid <= BANKS - OUT_NO_RENTAL else "rented")
        state = "available" if placed else out_state
        banks.append((bid, f"PB{bid:08d}", placed[0] if placed else None, placed[1] if placed else None,
                      rng.randint(5, 100), rng.randint(70, 100), state, console._at(rng, now, 20)))
    taken = {(b[2], b[3]) for b in banks if b[2] is not None}
    for sid, count in slots_of.items():
        for n in range(1, count + 1):
            fault = "jammed" if rng.random() < 0.01 else None
            state = "fault" if fault else "occupied" if (sid, n) in taken else "empty"
            slot_rows.append((sid, n, state, fault, now))
    await writer.rows("slots", ["station_id", "n", "state", "fault", "updated_at"], slot_rows)
    await writer.rows("banks", ["id", "serial", "station_id", "slot_n", "soc", "health", "state", "updated_at"],
                      banks)
    return {"in_slots": in_slots}


def rentals(now: datetime, rng: random.Random, in_slots: int):
    """RENTALS rows, oldest first (ids follow time); the last ones are the rentals still open."""
    terms = json.dumps(asdict(TARIFF))
    year = timedelta(days=365).total_seconds()
    open_users = iter(rng.sample(range(1, console.USERS + 1), OPEN_RECENT + OVERDUE + EJECTING))
    first_open = RENTALS - OPEN_RECENT - EJECTING + 1
    overdue_ids = set(rng.sample(range(RENTALS - 40_000, RENTALS - 20_000), OVERDUE))
    out_bank = iter(range(in_slots + 1, in_slots + OPEN_RECENT + OVERDUE + 1))
    states = _weighted((("returned", 950), ("cancelled", 30), ("lost", 5)))
    for rid in range(1, RENTALS + 1):
        created = now - timedelta(seconds=year * (1 - rid / RENTALS) + 60)
        user = HEAVY_RENTER if rid % 2_000 == 0 else rng.randint(1, console.USERS)
        station = _station_of(rng)
        bank = rng.randint(1, in_slots)
        started, bill, owed, ended, back, slot = created + timedelta(seconds=20), None, 0, None, None, 1
        if rid in overdue_ids or rid >= first_open:
            if rid >= RENTALS - EJECTING + 1:
                state, started = "ejecting", None
            else:
                state, bank = "active", next(out_bank)
            user = next(open_users)
        else:
            state = rng.choice(states)
            if state == "cancelled":
                started = None
            else:
                minutes = rng.randint(3, 72 * 60) if state == "lost" else rng.randint(3, 30 * 60)
                ended = started + timedelta(minutes=minutes)
                total = min(TARIFF.device_price, 500 * (minutes // 60 + 1))
                owed = rng.choice((0,) * 50 + (total,)) if state != "cancelled" else 0
                bill = json.dumps({"currency": "ZMW", "lost": state == "lost", "minutes": minutes, "total": total,
                                   "deposit": TARIFF.deposit, "owed": owed})
                back = None if state == "lost" else _station_of(rng)
        due = started + timedelta(hours=TARIFF.hours) if started else None
        yield (rid, f"R-{rid:07d}", f"bench:{rid}", user, station, bank, slot, "ZMW", terms, state, TARIFF.deposit,
               0, started, due, ended, back, bill, owed, created)


def log_lines(now: datetime, rng: random.Random):
    kinds = _weighted(LOG_KINDS)
    year = timedelta(days=365).total_seconds()
    for n in range(1, LOG_LINES + 1):
        kind = rng.choice(kinds)
        bank = rng.randint(1, BANKS) if kind in ("alert", "incident", "note") and rng.random() < 0.7 else None
        yield (n, _station_of(rng), bank, rng.randint(1, 8) if kind.startswith("fault") else None, kind,
               f"bench {kind} {n}", "station" if kind != "note" else "ops@example.com",
               now - timedelta(seconds=year * (1 - n / LOG_LINES) + 30))


def events(now: datetime, rng: random.Random):
    year = timedelta(days=365).total_seconds()
    for n in range(1, EVENTS + 1):
        station = _station_of(rng)
        yield (n, f"{999 + station}-{n:09d}", station, rng.choice(EVENT_TYPES), '{"slot": 1}',
               now - timedelta(seconds=year * (1 - n / EVENTS) + 30))


def ejects(now: datetime, rng: random.Random):
    """One eject request per rental for the last EJECTS rentals; the newest pending, a hundred unknown."""
    first = RENTALS - EJECTS + 1
    unknown = set(rng.sample(range(first, RENTALS - 200), 100))
    year = timedelta(days=365).total_seconds()
    for n, rid in enumerate(range(first, RENTALS + 1), 1):
        issued = now - timedelta(seconds=year * (1 - rid / RENTALS) + 50)
        state = ("pending" if rid > RENTALS - EJECTING else "unknown" if rid in unknown
                 else rng.choice(("ok",) * 40 + ("failed", "expired")))
        yield (n, f"{rid:026d}", _station_of(rng), rng.randint(1, 8), rng.randint(1, BANKS), f"R-{rid:07d}",
               issued, issued + timedelta(seconds=60), state, None if state == "pending" else "done",
               issued + timedelta(seconds=90) if state == "unknown" else None,
               None if state in ("pending", "unknown") else issued + timedelta(seconds=5))


async def seed(writer: console.Writer, now: datetime, rng: random.Random) -> dict[str, float]:
    took: dict[str, float] = {}
    steps = [("users+accounts", lambda: console.seed_users(writer, now, rng)),
             ("stations+slots+banks", lambda: seed_fleet(writer, now, rng))]
    fleet = {}
    for step, call in steps:
        t = time.perf_counter()
        fleet = await call() or fleet
        took[step] = time.perf_counter() - t
    t = time.perf_counter()
    await writer.rows("rentals", ["id", "ref", "request_key", "user_id", "station_id", "bank_id", "slot_n",
                                  "currency", "terms", "state", "deposit", "prepaid", "started_at", "due_at",
                                  "ended_at", "return_station_id", "bill", "owed", "created_at"],
                      rentals(now, rng, fleet["in_slots"]))
    took["rentals"] = time.perf_counter() - t
    t = time.perf_counter()
    await writer.rows("station_log", ["id", "station_id", "bank_id", "slot_n", "kind", "detail", "author",
                                      "created_at"], log_lines(now, rng))
    await writer.rows("station_events", ["id", "evt_id", "station_id", "type", "payload", "received_at"],
                      events(now, rng))
    await writer.rows("eject_requests", ["id", "req_id", "station_id", "slot_n", "bank_id", "rental_ref",
                                         "issued_at", "expires_at", "state", "reason", "unknown_at", "settled_at"],
                      ejects(now, rng))
    took["log+events+ejects"] = time.perf_counter() - t
    return took


async def cli_timings(url: str, schema: str | None, runs: int) -> dict[str, float]:
    """The CLI's listings as `enerlectra stations ...` runs them (its own engine each time), stdout discarded;
    in a thread, since each call runs its own event loop."""
    from ussd_app import cli

    env = {"DATABASE_URL": url, "ENERLECTRA_DB_SCHEMA": schema or "", "LEDGER_KEY": "bench-console-" + "k" * 32}
    saved = {name: os.environ.get(name) for name in env}

    def call(argv: list[str]) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(argv) == 0, argv
    os.environ.update(env)
    try:
        return {name: await console.timed(runs, lambda argv=argv: asyncio.to_thread(call, argv))
                for name, argv in CLI.items()}
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


async def run(url: str, schema: str | None, sqlite_path: Path | None, runs: int,
              reuse: bool = False) -> dict[str, float]:
    """Seed (unless `reuse`), then time the pages and the CLI listings."""
    engine = make_engine(url, schema=schema)
    try:
        await upgrade_async(url, schema=schema)        # a kept database gets new migrations: before and after
        if not reuse:
            async with console.Writer(url, schema, sqlite_path) as writer:
                took = await seed(writer, datetime.now(timezone.utc), random.Random(20))
            for step, seconds in took.items():
                print(f"  seeded {step:30} {seconds:7.1f} s")
        await console.vacuum_analyze(engine, VACUUMED)
    finally:
        await engine.dispose()
    pages = await console.page_timings(url, schema, runs, PAGES, role="admin")
    return {**pages, **await cli_timings(url, schema, runs)}


if __name__ == "__main__":
    console.main(__doc__, "bench_stations", run)
