"""The subscribing station link keeps its MQTT session (issue 20, review2): a stable client id and
clean_session off, so what stations send at QoS 1 while it is down is queued by the broker and applied when it
is back -- a return billed at the station's time, once, however often it comes. On the tests' broker
(`mqtt_url`: the embedded amqtt, or TEST_MQTT_URL's Mosquitto) with the real rental hooks, ledger verified."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import Station, StationEvent
from enerlectra.domain.rentals.hooks import RentalHooks
from enerlectra.settings import Settings
from tests.conftest import random_station_code
from tests.rentals_helpers import Shop
from tests.stations_helpers import T0
from tests.test_station_link import OnBroker, until
from ussd_app.station_link import StationLink

HOUR, MIN = 3600, 60
START = int(T0.timestamp())


@pytest.fixture
async def shop(database, settings, monkeypatch):
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


class Running:
    """A subscribing link with the rental hooks, from connected until the block ends (a clean DISCONNECT:
    the broker keeps the session)."""

    def __init__(self, settings: Settings, shop: Shop):
        self.link = StationLink(settings, shop.db, hooks=RentalHooks(settings), tick_seconds=3600)

    async def __aenter__(self) -> StationLink:
        self.task = asyncio.create_task(self.link.run())
        await asyncio.wait_for(self.link.connected.wait(), 15)
        return self.link

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def booted(shop, code: str, boot: str) -> bool:
    async with shop.db() as s:
        return await s.scalar(select(Station.boot_id).where(Station.code == code)) == boot


async def test_a_return_sent_while_the_link_is_down_is_applied_on_reconnect_at_the_stations_time_once(
        shop, settings, mqtt_url):
    settings = settings.with_(mqtt_url=mqtt_url)
    code = random_station_code()
    cab = await shop.station(code, slots=4, banks=1)
    user = await shop.renter("+260971540001", 50_000)
    view = await shop.rent(user, code, "hop:session")
    assert await shop.eject_result(cab, view.ref) == "ok"          # the rental runs from T0
    async with Running(settings, shop):
        pass                                                       # the session and its subscriptions exist
    async with OnBroker(mqtt_url, cab) as st:                      # the link is down: the station goes on
        cab.banks[1] = (view.bank_serial, 40)
        cab.ts = START + 3 * HOUR
        await st.hb()                                              # QoS 0: not kept for the link
        cab.ts = START + 90 * MIN
        ret = cab.evt("return", slot=1, pb=view.bank_serial, soc=40)
        for _ in range(2):                                         # at least once: the station sent it twice
            await st.send("evt", ret.body)
        cab.boot = "after"
        await st.evt("boot")                                       # the last one queued: all before it are in
    shop.t = 6 * HOUR                                              # the link is back hours later
    async with Running(settings, shop):
        assert await until(lambda: booted(shop, code, "after"), 20), "the queued events never came"
    rental = await shop.rental(view.ref)
    assert rental.state == "returned", "the return sent while the link was down was lost"
    assert rental.ended_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(minutes=90)
    assert rental.bill["minutes"] == 90 and await shop.revenue() == rental.bill["total"] == 1_000
    async with shop.db() as s:
        assert await s.scalar(select(func.count()).select_from(StationEvent)
                              .where(StationEvent.evt_id == ret.body["evt_id"])) == 1
    assert await shop.held() == 0
    await shop.books_ok()


async def test_the_same_return_delivered_again_after_a_reconnect_changes_nothing(shop, settings, mqtt_url):
    """What the broker sends again (a PUBACK lost with the connection) is deduplicated by evt_id."""
    settings = settings.with_(mqtt_url=mqtt_url)
    code = random_station_code()
    cab = await shop.station(code, slots=4, banks=1)
    user = await shop.renter("+260971540002", 50_000)
    view = await shop.rent(user, code, "hop:again")
    assert await shop.eject_result(cab, view.ref) == "ok"
    cab.banks[1], cab.ts = (view.bank_serial, 40), START + 2 * HOUR
    ret = cab.evt("return", slot=1, pb=view.bank_serial, soc=40)
    async with OnBroker(mqtt_url, cab) as st:
        for boot, hours in (("first", 3), ("second", 5)):
            shop.t = hours * HOUR
            async with Running(settings, shop):
                await st.send("evt", ret.body)
                cab.boot = boot
                await st.evt("boot")
                assert await until(lambda: booted(shop, code, boot), 20)
    rental = await shop.rental(view.ref)
    assert rental.state == "returned" and rental.bill["minutes"] == 120
    assert await shop.revenue() == rental.bill["total"] == 1_000 and await shop.held() == 0
    await shop.books_ok()


@pytest.mark.parametrize("subscribe, identifier, clean", [
    (True, "enerlectra-link-x", False),            # the one subscriber: the setting's id, a kept session
    (False, None, True),                           # a web process's publisher: an id of its own, a clean one
])
def test_only_the_subscriber_takes_the_stable_id_and_a_kept_session(tmp_path, subscribe, identifier, clean):
    settings = Settings(home=tmp_path, mqtt_url="mqtt://127.0.0.1:9", station_link_client_id="enerlectra-link-x")
    links = [StationLink(settings, None, subscribe=subscribe) for _ in range(2)]
    ids = {link.identifier for link in links}
    assert all(link.clean_session is clean for link in links)
    if identifier:
        assert ids == {identifier}
    else:
        assert len(ids) == 2 and all(i.startswith("enerlectra-pub-") for i in ids)


@pytest.mark.parametrize("raw, ok", [
    (None, "enerlectra-link"), ("enerlectra-link-lusaka", "enerlectra-link-lusaka"), ("link_2.b", "link_2.b"),
    ("st-4021", None), ("two words", None), ("x" * 65, None), ("link/1", None),
])
def test_the_link_client_id_setting(raw, ok):
    env = {} if raw is None else {"STATION_LINK_CLIENT_ID": raw}
    if ok is None:
        with pytest.raises(SystemExit, match="STATION_LINK_CLIENT_ID"):
            Settings.from_env(env)
    else:
        assert Settings.from_env(env).station_link_client_id == ok
