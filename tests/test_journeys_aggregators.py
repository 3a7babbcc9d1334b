"""Journeys through every aggregator's wire format: the same user stories, hop for hop, whether Africa's Talking
(cumulative text), Beem (request_id round trip), Hubtel (Sequence) or Arkesel (our own count) carries them.
All journeys run through AT and Beem in `.ci`-style runs (`enerlectra sim run --aggregator beem ...`); here a
few that cover money, resume, shortcuts and Back/Home run through all four."""
from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path

import pytest

from enerlectra.domain import ledger
from simulator.journeys import load_journey, run_journey
from simulator.wire import WIRES
from tests.test_journeys import app_transport

FEW = ("send_money", "resume", "back_home", "deposit")
JOURNEYS = Path(str(resources.files("simulator") / "journeys"))
ROWS = [(aggregator, name) for aggregator in WIRES for name in FEW]


@pytest.mark.parametrize("aggregator,name", ROWS, ids=[f"{a}-{n}" for a, n in ROWS])
async def test_journey_through_aggregator(aggregator, name, aiohttp_client, at_settings, fake_at):
    journey = load_journey(JOURNEYS / f"{name}.yaml")
    async with contextlib.AsyncExitStack() as stack:
        transport = await stack.enter_async_context(app_transport(aiohttp_client, at_settings, fake_at, aggregator))
        outcome = await run_journey(journey, transport)
        assert outcome.ok, outcome.message + "\n\n" + "\n".join(outcome.transcript)
        async with transport.operator.db() as s:
            assert await ledger.verify(s) == []
