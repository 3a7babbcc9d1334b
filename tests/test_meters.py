"""Meters as tables of cases: readings (what each does to the owner's energy, what the meter is told),
registration by an operator (`enerlectra meter add`), the owner's My meters screen, and the caps under
concurrency. After each: the ledger verifies and the market escrow matches the book."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from enerlectra.db.models import Meter, MeterReading, User
from enerlectra.domain import meters
from enerlectra.domain.pins import aware_utc
from tests.test_market import balances, escrow_ok
from tests.test_wallet import Phone, register
from ussd_app import appkeys

OWNER = "+260971950001"
SECRET = "K7QX-93MP-ZT4A"                  # as the meter's manufacturer set it
SERIAL = "MTR-001"
REGISTERED_HOURS_AGO = 40                  # the technician's visit; readings below are hours after it
DEFAULTS = meters.Limits(20_000, 50_000, 100_000, timedelta(hours=48))   # the settings' defaults


def stamp(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def reading(export_wh: int, import_wh: int = 0, hours: float | str = 1, meter: str = SERIAL) -> dict:
    """A reading `hours` after registration (a string: that timestamp as it is)."""
    return {"meter": meter, "export_wh": export_wh, "import_wh": import_wh, "timestamp": hours}


@dataclass
class Case:
    label: str
    posts: list[dict | bytes]
    statuses: list[int]
    energy: int                                  # the owner's Wh after all posts
    last: str | None = None                      # the last response's status field, or a fragment of its error
    baseline: tuple[int, int] = (10_000, 0)      # the registers at registration
    secret: str | None = None                    # None: the meter's own
    flagged: int = 0
    legacy: bool = False                         # registered before baselines were set at registration


BIG = 4_000_000_000
CASES = [
    Case("a normal increase credits the export", [reading(12_500, hours=2)], [200], 2_500, "credited"),
    Case("import draws on the credits", [reading(14_000, 1_500, 2)], [200], 3_500, "credited", (10_000, 1_000)),
    Case("import beyond the credits takes only what is there", [reading(10_500, 3_000, 2)], [200], 0,
         "credited"),
    Case("repeat: stored once, credited once", [reading(12_000), reading(12_000)], [200, 200], 2_000,
         "duplicate"),
    Case("out of order is refused", [reading(12_000, hours=2), reading(11_000, hours=1)], [200, 409], 2_000,
         "out of order"),
    Case("older than the registration is refused", [reading(11_000, hours=-1)], [409], 0, "last reading"),
    Case("older than 48 hours is refused", [reading(11_000, hours=-9)], [409], 0, "older than 48 hours"),
    Case("backwards is flagged, not credited", [reading(9_000)], [202], 0, "flagged", flagged=1),
    Case("after a flag the last good reading stays the reference", [reading(9_000), reading(11_000, hours=2)],
         [202, 200], 1_000, "credited", flagged=1),
    Case("more than the hourly rate is flagged", [reading(60_000)], [202], 0, "flagged", flagged=1),
    Case("a big export over a long time is plausible", [reading(60_000, hours=3)], [200], 50_000, "credited"),
    Case("the per-reading cap is credited in full", [reading(60_000, hours=10)], [200], 50_000, "credited"),
    Case("over the per-reading cap is flagged", [reading(60_001, hours=10)], [202], 0, "flagged", flagged=1),
    Case("the day cap is credited in full, one Wh more is flagged",
         [reading(60_000, hours=5), reading(110_000, hours=10), reading(110_001, hours=11)], [200, 200, 202],
         100_000, "flagged", flagged=1),
    Case("after the day cap a smaller reading is flagged too",
         [reading(60_000, hours=5), reading(110_000, hours=10), reading(110_500, hours=20)], [200, 200, 202],
         100_000, "flagged", flagged=1),
    Case("backdated attack: a baseline in 2000 then 4,000,000,000 Wh now",
         [reading(0, hours="2000-01-01T00:00:00Z"), reading(BIG, hours="now")], [409, 202], 0, "flagged",
         flagged=1),
    Case("backdated attack on a meter without a baseline: 2000 refused",
         [reading(0, hours="2000-01-01T00:00:00Z"), reading(BIG, hours="now")], [409, 200], 0, "baseline",
         legacy=True),
    Case("a meter without a baseline: the oldest allowed baseline then a jump is flagged",
         [reading(0, hours=-7), reading(BIG, hours="now")], [200, 202], 0, "flagged", flagged=1, legacy=True),
    Case("wrong secret", [reading(12_000)], [401], 0, secret="WRONG-SECRET"),
    Case("unknown meter", [reading(12_000, meter="MTR-999")], [401], 0),
    Case("not JSON", [b"export=1"], [400], 0),
    Case("negative Wh", [reading(-5)], [400], 0),
    Case("fractional Wh", [{**reading(12_000), "export_wh": 12_000.5}], [400], 0),
    Case("timestamp without a zone", [reading(12_000, hours="2026-11-22T08:00:00")], [400], 0),
    Case("timestamp in the future", [reading(12_000, hours="2099-01-01T00:00:00Z")], [400], 0),
]


async def add_meter(client, msisdn: str, baseline=(10_000, 0), serial: str = SERIAL, hours_ago: float = 0,
                    secret: str = SECRET) -> datetime:
    """Register a meter as an operator did `hours_ago`; returns that time."""
    at = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    async with client.app[appkeys.DB]() as s, s.begin():
        owner = await s.scalar(select(User).where(User.msisdn == msisdn))
        await meters.register(s, owner, serial, secret, *baseline, now=at)
    return at


async def forget_baseline(client) -> None:
    """What a meter registered before this change looks like: no last reading, no baseline row."""
    async with client.app[appkeys.DB]() as s, s.begin():
        await s.execute(delete(MeterReading))
        await s.execute(update(Meter).values(last_read_at=None, last_export_wh=None, last_import_wh=None))


def timed(body: dict, registered: datetime) -> dict:
    when = body["timestamp"]
    if isinstance(when, (int, float)):
        when = stamp(registered + timedelta(hours=when))
    elif when == "now":
        when = stamp(datetime.now(timezone.utc))
    return {**body, "timestamp": when}


async def books_ok(client, msisdn: str = OWNER) -> None:
    """The ledger verifies, the escrow matches, and the owner's Wh are what the readings credited net."""
    await escrow_ok(client)
    async with client.app[appkeys.DB]() as s:
        net = await s.scalar(select(func.coalesce(func.sum(MeterReading.credited_wh - MeterReading.debited_wh), 0)))
    assert (await balances(client, msisdn))[1] == net


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_meter_readings(client, case):
    await register(client, OWNER, "Kasonde")
    registered = await add_meter(client, OWNER, case.baseline, hours_ago=REGISTERED_HOURS_AGO)
    if case.legacy:
        await forget_baseline(client)
    headers = {"X-Meter-Secret": case.secret or SECRET}
    for body, status in zip(case.posts, case.statuses, strict=True):
        if isinstance(body, bytes):
            resp = await client.post("/meters/readings", data=body, headers=headers)
        else:
            resp = await client.post("/meters/readings", json=timed(body, registered), headers=headers)
        assert resp.status == status, (body, await resp.text())
    if case.last:
        answer = await resp.json()
        assert case.last in (answer.get("status") or answer.get("error")), answer
        assert (answer.get("reason") is not None) == (answer.get("status") == "flagged"), answer
    assert (await balances(client, OWNER))[1] == case.energy
    async with client.app[appkeys.DB]() as s:
        flagged = await meters.flagged(s)                      # what `enerlectra meter flagged` lists
        assert len(flagged) == case.flagged
        assert all(number == SERIAL and msisdn == OWNER and r.reason for number, msisdn, r in flagged)
    await books_ok(client)


async def test_twenty_readings_at_once_never_credit_more_than_the_day_cap(client):
    """95,000 Wh credited today, then readings 1,000 Wh apart posted at once: whatever order they are applied
    in, the 5 that fit are credited (or refused as out of order), the 15 that do not are flagged."""
    await register(client, OWNER, "Kasonde")
    registered = await add_meter(client, OWNER, (0, 0), hours_ago=REGISTERED_HOURS_AGO)
    headers = {"X-Meter-Secret": SECRET}
    for body in (reading(50_000, hours=3), reading(95_000, hours=6)):
        assert (await client.post("/meters/readings", json=timed(body, registered), headers=headers)).status == 200

    async def post(k: int) -> int:
        body = reading(95_000 + (k + 1) * 1_000, hours=7 + k / 12)
        return (await client.post("/meters/readings", json=timed(body, registered), headers=headers)).status

    statuses = await asyncio.gather(*(post(k) for k in range(20)))
    assert statuses[4] == 200 and set(statuses[:4]) <= {200, 409}, statuses
    assert statuses[5:] == [202] * 15, statuses
    assert (await balances(client, OWNER))[1] == DEFAULTS.per_day
    async with client.app[appkeys.DB]() as s:
        flagged = await meters.flagged(s)
    assert len(flagged) == 15 and all("today" in r.reason for _n, _m, r in flagged)
    await books_ok(client)


@given(last=st.integers(0, 10**9), export=st.integers(0, 10**6), imported=st.integers(0, 10**5),
       seconds=st.integers(1, 48 * 3600), today=st.integers(0, 200_000))
def test_a_credited_reading_is_within_every_cap(last, export, imported, seconds, today):
    start = datetime(2026, 11, 29, tzinfo=timezone.utc)
    meter = Meter(number=SERIAL, last_export_wh=last, last_import_wh=0, last_read_at=start)
    outcome = meters.judge(meter, meters.Reading(SERIAL, last + export, imported, start + timedelta(seconds=seconds)),
                           DEFAULTS, today)
    if outcome.status == "credited":
        assert outcome.credited_wh == export <= DEFAULTS.per_reading
        assert today + export <= DEFAULTS.per_day
        assert export <= DEFAULTS.per_hour * max(seconds, 60) / 3600
    else:
        assert outcome.status == "flagged" and outcome.reason and outcome.credited_wh == 0


# -- registration by an operator -------------------------------------------------------------------

@dataclass
class AddCase:
    label: str
    args: list[str]
    stdin: str | None = None                 # what the operator pipes in (None: a --secret-file)
    rc: int = 0
    says: str = "registered to"              # a fragment of stdout (rc 0) or of stderr's one line
    taken: bool = False                      # the serial is registered (to someone else) already


ADD_CASES = [
    AddCase("secret from a file", [OWNER, "mtr-cli-1", "--export-wh", "1000", "--import-wh", "20"]),
    AddCase("secret from stdin", [OWNER, "MTR-CLI-1", "--export-wh", "1000", "--import-wh", "20"], SECRET + "\n"),
    AddCase("a serial registered already is refused", [OWNER, "mtr-cli-1", "--export-wh", "0", "--import-wh", "0"],
            SECRET, rc=1, says="meter MTR-CLI-1 is registered already", taken=True),
    AddCase("a short secret is refused", [OWNER, "MTR-CLI-1", "--export-wh", "0", "--import-wh", "0"], "abc",
            rc=1, says="secret: at least 8 characters"),
    AddCase("a bad serial is refused", [OWNER, "MTR 1", "--export-wh", "0", "--import-wh", "0"], SECRET, rc=1,
            says="serial:"),
    AddCase("an unknown user", ["+260971959999", "MTR-CLI-1", "--export-wh", "0", "--import-wh", "0"], SECRET,
            rc=1, says="is not registered"),
    AddCase("the register values are required", [OWNER, "MTR-CLI-1"], SECRET, rc=2, says="--export-wh"),
]


@pytest.mark.parametrize("case", ADD_CASES, ids=[c.label for c in ADD_CASES])
async def test_meter_add_by_an_operator(client, case, tmp_path):
    await register(client, OWNER, "Kasonde")
    if case.taken:
        await register(client, "+260971950002", "Mulenga")
        await add_meter(client, "+260971950002", (0, 0), "MTR-CLI-1", secret="OTHER-SECRET")
    args = list(case.args)
    if case.stdin is None:
        (tmp_path / "secret").write_text(SECRET + "\n")
        args += ["--secret-file", str(tmp_path / "secret")]
    done = await asyncio.to_thread(_cli, client, ["meter", "add", *args], case.stdin or "")
    assert done.returncode == case.rc, done.stdout + done.stderr
    shown = done.stdout if case.rc == 0 else done.stderr
    assert case.says in shown, shown
    assert case.rc != 1 or len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert SECRET not in done.stdout + done.stderr
    async with client.app[appkeys.DB]() as s:
        meter = await s.scalar(select(Meter).where(Meter.number == "MTR-CLI-1"))
        rows = (await s.execute(select(MeterReading.status, MeterReading.export_wh))).all()
    if case.rc == 0:           # the baseline is the registers, dated now; the secret works for readings
        assert (meter.last_export_wh, meter.last_import_wh, rows) == (1000, 20, [("baseline", 1000)])
        assert abs(aware_utc(meter.last_read_at) - datetime.now(timezone.utc)) < timedelta(minutes=1)
        body = reading(1500, 20, stamp(datetime.now(timezone.utc) + timedelta(seconds=120)), "MTR-CLI-1")
        resp = await client.post("/meters/readings", json=body, headers={"X-Meter-Secret": SECRET})
        assert resp.status == 200 and (await resp.json())["credited_wh"] == 500, await resp.text()
    else:                      # nothing changed: a taken serial keeps its owner and secret
        assert meter is None or meter.secret_hash == meters.hash_secret("OTHER-SECRET")
    await books_ok(client)


def _cli(client, args: list[str], stdin: str) -> subprocess.CompletedProcess:
    settings = client.app[appkeys.SETTINGS]
    env = {**os.environ, "DATABASE_URL": settings.effective_database_url, "ENERLECTRA_HOME": str(settings.home),
           "ENERLECTRA_DB_SCHEMA": settings.database_schema or ""}      # the app's home: its ledger key
    return subprocess.run([sys.executable, "-m", "ussd_app.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


# -- the owner's screen ----------------------------------------------------------------------------

SCREEN_CASES = [   # (language key at onboarding, has a meter, fragments of My meters)
    ("1", True, ["Your meters (a technician registers them):", "MTR-001: read", "today +2.5 kWh", "0 Back"]),
    ("1", False, ["No meter yet. A technician registers your solar meter", "0 Back"]),
    ("2", True, ["MTR-001:", "+2.5 kWh"]),
    ("3", True, ["MTR-001:", "+2.5 kWh"]),
    ("4", True, ["Mita zako (fundi huzisajili):", "MTR-001: imesomwa", "leo +2.5 kWh"]),
    ("4", False, ["Bado huna mita."]),
]


@pytest.mark.parametrize("lang,has_meter,fragments", SCREEN_CASES)
async def test_my_meters_never_shows_a_secret(client, lang, has_meter, fragments):
    phone = Phone(client, OWNER)
    await phone.dial()
    screens = [await phone.press(lang, "Kasonde", "4826", "4826")]
    if has_meter:
        registered = await add_meter(client, OWNER, hours_ago=REGISTERED_HOURS_AGO)
        resp = await client.post("/meters/readings", json=timed(reading(12_500, hours=2), registered),
                                 headers={"X-Meter-Secret": SECRET})
        assert resp.status == 200
    await phone.dial()
    for key in ("3", "3", "0", "3", "98", "00"):         # Settings, My meters, back, again, a wrong key, home
        screens.append(await phone.press(key))
    mine = screens[2]
    assert all(fragment in mine for fragment in fragments), mine
    async with client.app[appkeys.DB]() as s:
        hashes = (await s.execute(select(Meter.secret_hash))).scalars().all()
    for screen in screens:
        assert SECRET not in screen and SECRET.replace("-", "") not in screen
        assert not any(h[:8] in screen for h in hashes)
    await books_ok(client)
