"""Shared fixtures: real Redis (embedded, or REDIS_URL) and real SQL (SQLite, or TEST_DATABASE_URL).

Every test gets its own Redis key prefix and its own database (a SQLite file, or a PostgreSQL
schema), and removes only what it created.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest
import redis

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.domain import ledger
from enerlectra.domain import ledger_key as ledger_key_module
from enerlectra.embedded_redis import EmbeddedRedis
from enerlectra.jobs import KINDS, queue_name
from enerlectra.ports import free_port
from enerlectra.settings import AggregatorConfig, Settings
from tests import broker_hygiene
from tests.databases import fresh_database
from tests.rentals_helpers import Shop
from tests.stations_helpers import World
from ussd_app import appkeys
from ussd_app.aggregators.registry import ADAPTERS
from ussd_app.app import create_app
from ussd_app.station_link import StationLink, client_for

pytest_plugins = ["tests.spawned_redis"]         # own_redis: a redis-server of the test's own

TEST_KDF_COST = 16       # scrypt N for tests; production's is 2**11 (tests/test_pin_sealing.py checks it)


@pytest.fixture(autouse=True)
def ledger_key(tmp_path) -> bytes:
    """Each test seals its ledger with a key of its own: the one its `settings` home holds, so domain code
    called directly, the app (create_app), workers and CLI subprocesses given that home all agree."""
    key = ledger_key_module.load(Settings(home=Path(tmp_path) / "home"))
    ledger.use_key(key)
    yield key
    ledger.use_key(None)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory):
    """The tests' MQTT broker: TEST_MQTT_URL (e.g. a Mosquitto on a port of its own), else the embedded amqtt
    broker in a process of its own on a free port. Never the machine's 1883. Tests use station codes of their
    own (random_station_code), so their topics never cross."""
    if os.environ.get("TEST_MQTT_URL"):
        url = os.environ["TEST_MQTT_URL"]
        RETAINED_AT_START[url] = broker_hygiene.retained_statuses(url)
        yield url
        return
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "enerlectra.embedded_mqtt", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)   # never wait for ever on a broker that hangs
        url = proc.stdout.readline().decode().strip() if ready else ""   # printed once the listener is up
        if not url.startswith("mqtt://"):
            raise RuntimeError("the embedded MQTT broker did not start")
        RETAINED_AT_START[url] = set()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


RETAINED_AT_START: dict[str, set[str]] = {}     # broker URL -> the retained statuses it held before any test


@pytest.fixture(autouse=True)
def clear_retained_statuses(request):
    """After a test that used the broker (torn down last: its stations and links are gone by then), the
    retained statuses it left are cleared (tests/broker_hygiene.py says why)."""
    yield
    if "mqtt_url" in request.fixturenames:
        url = request.getfixturevalue("mqtt_url")
        broker_hygiene.clear_new_statuses(url, RETAINED_AT_START[url])


_STATION_CODES: set[str] = set()


def random_station_code() -> str:
    """A 6-digit station code (protocols.md s.12: 4 to 6 digits) no other test of this run uses: a test that
    met another's code on the shared broker would take its client id (st-<code>) or its retained status."""
    while (code := str(100000 + uuid.uuid4().int % 900000)) in _STATION_CODES:
        pass
    _STATION_CODES.add(code)
    return code


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix and an rq queue name of this test's own; both cleaned up after it."""
    tag = uuid.uuid4().hex[:12]
    yield f"test:{tag}:"
    client = redis.Redis.from_url(redis_url)
    for pattern in (f"test:{tag}:*", f"rq:*test-{tag}*"):
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
    client.srem("rq:queues", *(f"rq:queue:{queue_name(f'test-{tag}', kind)}" for kind in KINDS))   # rq's indexes
    ours = [m for m in client.smembers("rq:workers") if f"test-{tag}".encode() in m]
    if ours:
        client.srem("rq:workers", *ours)
    client.close()


def queue_for(prefix: str) -> str:
    return "test-" + prefix.split(":")[1]


@pytest.fixture
async def database(tmp_path):
    """(url, schema): a fresh, migrated database for this test."""
    async with fresh_database(tmp_path, "t") as found:
        yield found


@pytest.fixture
async def sessions(database):
    """A sessionmaker on this test's database, its engine disposed after."""
    url, schema = database
    engine = make_engine(url, schema=schema)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def settings(request, tmp_path, redis_url, redis_prefix, database):
    url, schema = database
    found = Settings(home=Path(tmp_path) / "home", redis_url=redis_url, redis_prefix=redis_prefix,
                     queue_name=queue_for(redis_prefix), database_url=url, database_schema=schema,
                     pin_kdf_cost=TEST_KDF_COST, console_kdf_cost=TEST_KDF_COST,
                     aggregators={name: AggregatorConfig(enabled=True) for name in ADAPTERS},   # all four
                     station_link_client_id=link_client_id())
    yield found
    if "mqtt_url" in request.fixturenames:      # asked for by name or by getfixturevalue
        forget_link_session(request.getfixturevalue("mqtt_url"), found.station_link_client_id)


def link_client_id() -> str:
    """A subscribing station link's MQTT client id of this test's own: the tests' broker is shared by the
    session, and a persistent session left by one test must not hand its queue to the next one's link."""
    return f"enerlectra-link-test-{uuid.uuid4().hex[:12]}"


def forget_link_session(mqtt_url: str, client_id: str) -> None:
    """Connect once under `client_id` with a clean session: the broker drops the persistent one a test's link
    left, which would otherwise queue every later test's station events for the rest of the session."""
    async def forget() -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async with client_for(mqtt_url, client_id, clean_session=True):
                pass
    broker_hygiene.in_a_loop_of_its_own(forget())             # whatever the test's own loop is doing


@pytest.fixture
async def fake_at():
    """The fake Africa's Talking SMS API on a loopback port: (fake, base URL)."""
    from simulator.fake_at import FakeAT, running

    fake = FakeAT()
    async with running(fake) as url:
        yield fake, url


@pytest.fixture
def at_settings(settings, fake_at):
    """Settings that send SMS through the real SDK to the fake AT server."""
    fake, url = fake_at
    return settings.with_(at_username=fake.username, at_api_key=fake.api_key, at_api_base_url=url)


@pytest.fixture
async def at_client(aiohttp_client, at_settings, fake_at):
    """The app sending through the fake AT, which posts delivery reports back to it."""
    client = await aiohttp_client(create_app(at_settings))
    fake_at[0].report_url = str(client.make_url("/sms/africastalking/delivery"))
    return client


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def engine(client):
    return client.app[appkeys.ENGINE]


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The CLI pointed at the test's database and home (as an operator's environment would)."""
    monkeypatch.setenv("ENERLECTRA_HOME", str(settings.home))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    if settings.database_schema:
        monkeypatch.setenv("ENERLECTRA_DB_SCHEMA", settings.database_schema)
    else:
        monkeypatch.delenv("ENERLECTRA_DB_SCHEMA", raising=False)
    return settings


# The station tests' world (tests/stations_helpers.py) and a station link on the tests' broker.
@pytest.fixture
async def world(database):
    """A World on this test's database, closed after."""
    w = World(database)
    yield w
    await w.close()


@pytest.fixture
async def shop(database, settings, monkeypatch):
    """A rental shop (tests/rentals_helpers.py) on this test's database, its clock at T0."""
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


@pytest.fixture
async def link(world, database, mqtt_url, tmp_path):
    """A subscribing station link on the tests' broker, applying to `world`'s database, quick sweeps."""
    url, schema = database
    settings = Settings(home=Path(tmp_path) / "home", database_url=url, database_schema=schema, mqtt_url=mqtt_url,
                        # the command carries whole-second times: a 1 s TTL left as little as 0.1 s to a
                        # loaded box (the fleet answered "expired"); 3 s leaves at least 2
                        eject_unknown_seconds=4, eject_ttl_seconds=3, station_link_client_id=link_client_id())
    found = StationLink(settings, world.db, hooks=world.hooks, tick_seconds=0.2)
    task = asyncio.create_task(found.run())
    await asyncio.wait_for(found.connected.wait(), 10)
    yield found
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.to_thread(forget_link_session, mqtt_url, settings.station_link_client_id)
