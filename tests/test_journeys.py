"""Journey files, one per user story, replayed through the real app by the simulator's runner."""
from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from pathlib import Path

import pytest

from enerlectra.domain import ledger
from enerlectra.domain.market import book
from simulator.journeys import (Journey, JourneyError, Step, load_journey, parse_journey, run_files,
                                run_journey)
from simulator.transport import HttpTransport, Operator
from tests.jobs import run_jobs
from ussd_app import appkeys

JOURNEYS = sorted(Path(str(resources.files("simulator") / "journeys")).glob("*.yaml"))


@pytest.fixture
async def transport(aiohttp_client, at_settings, fake_at):
    async with app_transport(aiohttp_client, at_settings, fake_at) as transport:
        yield transport


@contextlib.asynccontextmanager
async def app_transport(aiohttp_client, at_settings, fake_at, aggregator: str = "africastalking",
                        mqtt_url: str | None = None):
    """The test app with SMS through the fake AT and mobile money through the local sandboxes (prompts wait
    for the journey to approve or decline); queued jobs run after every action; hops in `aggregator`'s wire."""
    from enerlectra.ports import free_port
    from payments.sandboxes import local as local_payments
    from ussd_app.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings, sandboxes = local_payments.plan(at_settings.with_(public_base_url=base, mqtt_url=mqtt_url))
    async with local_payments.serving(sandboxes):
        client = await aiohttp_client(create_app(settings), server_kwargs={"port": port})
        if mqtt_url:            # a journey's fleet: the app's station link on the tests' broker first
            await asyncio.wait_for(client.app[appkeys.STATION_LINK].connected.wait(), 10)
        fake_at[0].report_url = str(client.make_url("/sms/africastalking/delivery"))

        async def settle() -> None:
            await run_jobs(settings)
        yield HttpTransport(str(client.make_url("")), None, client.session, at_url=fake_at[1], settle=settle,
                            operator=Operator(client.app[appkeys.DB]),
                            sandboxes={box.name: box.url for box in sandboxes}, aggregator=aggregator,
                            mqtt_url=mqtt_url)


def test_there_are_journeys_for_every_story():
    assert {p.stem for p in JOURNEYS} >= {"onboarding", "settings", "resume", "back_home", "welcome_sms",
                                          "wallet_balance_history", "send_money", "wrong_pin_locked",
                                          "deposit", "withdraw", "airtel_deposit", "tanzania_deposit",
                                          "another_wallet", "advisor_ussd", "advisor_sms", "advisor_claude",
                                          "market_trade", "market_alerts", "market_sms", "cluster_pass",
                                          "cluster_expire", "cluster_payout_fails"}


@pytest.mark.parametrize("path", JOURNEYS, ids=[p.stem for p in JOURNEYS])
async def test_journey(path, aiohttp_client, at_settings, fake_at, request):
    from simulator.fake_claude import pointed_at_fake

    journey = load_journey(path)
    async with contextlib.AsyncExitStack() as stack:
        settings = at_settings
        if journey.advisor == "fake-claude":
            settings = await stack.enter_async_context(pointed_at_fake(at_settings))
        mqtt_url = request.getfixturevalue("mqtt_url") if journey.fleet else None     # power-bank stations
        transport = await stack.enter_async_context(app_transport(aiohttp_client, settings, fake_at,
                                                                  mqtt_url=mqtt_url))
        outcome = await run_journey(journey, transport)
        assert outcome.ok, outcome.message + "\n\n" + "\n".join(outcome.transcript)
        async with transport.operator.db() as s:           # what `enerlectra ledger verify` checks
            assert await ledger.verify(s) + await book.check_escrow(s) == []


async def test_a_mismatch_stops_the_journey_and_shows_the_screen(transport):
    journey = Journey("wrong on purpose", "+260971400001", (
        Step("dial", "", "CON", ("Choose your language",)),
        Step("send", "1", "END", ("nothing like this",)),
        Step("send", "never reached"),
    ))
    outcome = await run_journey(journey, transport)
    assert not outcome.ok and outcome.failed_step == 2
    assert "expected END, got CON" in outcome.message
    assert "missing 'nothing like this'" in outcome.message
    assert "What is your name?" in outcome.message          # the screen it got


@pytest.mark.parametrize("data,error", [
    ({"name": "x"}, "list of steps"),
    ({"steps": [{"send": "1", "dial": ""}]}, "exactly one of"),
    ({"steps": [{"send": "1", "expect": "MAYBE"}]}, "CON or END"),
    ({"steps": ["1"]}, "a step is a mapping"),
    ({"steps": [{"send": "1", "contains": {"a": 1}}]}, "text or a list"),
    ({"steps": [], "fleet": {"code": "4021"}}, "fleet is a list of stations"),
    ({"steps": [], "fleet": [{"name": "no code"}]}, "each with a code"),
    ({"steps": [], "fleet": [{"code": "4021", "banks": 2, "colour": "red"}]}, "station 4021: unknown colour"),
])
def test_malformed_journey_files_are_refused_clearly(data, error):
    with pytest.raises(JourneyError, match=error):
        parse_journey(data, "bad.yaml")


async def test_an_expected_sms_that_never_comes_fails_the_journey(transport, monkeypatch):
    import simulator.journeys as journeys

    monkeypatch.setattr(journeys, "INBOX_WAIT", 0.2)
    journey = Journey("no sms", "+260971400004", (Step("dial", ""), Step("inbox", "", contains=("anything",))))
    outcome = await run_journey(journey, transport)
    assert not outcome.ok and "no new SMS to +260971400004" in outcome.message


async def test_inbox_none_fails_on_an_sms_that_came_and_passes_on_quiet(transport, monkeypatch):
    import simulator.journeys as journeys

    monkeypatch.setattr(journeys, "QUIET_WAIT", 0.2)
    steps = [{"dial": "*123#"}, {"send": "1"}, {"send": "Quiet"}, {"send": "6248"}, {"send": "6248"}]
    welcomed = parse_journey({"msisdn": "+260971400005", "steps": [*steps, {"inbox": "none"}]}, "x.yaml")
    outcome = await run_journey(welcomed, transport)              # the welcome SMS came
    assert not outcome.ok and "expected no new SMS, got:" in outcome.message, outcome.message
    quiet = parse_journey({"msisdn": "+260971400006", "steps": [*steps, {"inbox": True}, {"inbox": "none"}]},
                          "y.yaml")
    assert (await run_journey(quiet, transport)).ok


async def test_sim_run_exits_1_on_the_first_mismatch(tmp_path, client, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text('name: bad\nmsisdn: "+260971400002"\nsteps:\n  - dial: "*123#"\n    contains: [Nope]\n')
    good = tmp_path / "good.yaml"
    good.write_text('name: good\nmsisdn: "+260971400003"\nsteps:\n  - dial: "*123#"\n    expect: CON\n')
    url = str(client.make_url("")).rstrip("/")
    assert await run_files([str(good)], url=url) == 0
    assert await run_files([str(bad), str(good)], url=url) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "missing 'Nope'" in out and "Choose your language" in out


async def test_a_fleet_journey_needs_the_apps_broker(transport):
    """Against a server (no in-process broker), a journey with stations says why it cannot run."""
    journey = parse_journey({"steps": [{"return": "4021"}], "fleet": [{"code": "4021"}]}, "fleet.yaml")
    outcome = await run_journey(journey, transport)
    assert not outcome.ok and "runs in-process, with the app's MQTT broker" in outcome.message
