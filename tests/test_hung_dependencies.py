"""Item 13: a database or Redis port that accepts and never answers costs a bounded wait, never a minute:
/healthz answers within 2 s naming what is down (503), and a USSD hop gets its answer well within the
aggregator's 10 s."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.helpers import at_form, new_session_id
from ussd_app.app import create_app

LEDGER_KEY = "k" * 40        # an external database needs an explicit ledger key


@pytest.fixture
async def hung_port():
    """A TCP server that accepts every connection and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader, writer):
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    for writer in held:
        writer.close()


def hung_sql(port: int) -> str:
    return f"postgresql+asyncpg://enerlectra:secret@127.0.0.1:{port}/enerlectra"


@pytest.mark.parametrize("down", ["sql", "redis", "both"])
async def test_healthz_answers_within_2s_and_names_what_is_down(aiohttp_client, settings, hung_port, down):
    changes: dict = {"ledger_key": LEDGER_KEY}
    if down in ("sql", "both"):
        changes |= {"database_url": hung_sql(hung_port), "database_schema": None}
    if down in ("redis", "both"):
        changes["redis_url"] = f"redis://127.0.0.1:{hung_port}/0"
    client = await aiohttp_client(create_app(settings.with_(**changes)))
    started = time.monotonic()
    resp = await client.get("/healthz")
    took = time.monotonic() - started
    body = await resp.json()
    assert took < 2.0, took
    assert resp.status == 503
    named = {part for part in ("sql", "redis") if body[part] != "ok"}
    assert named == ({"sql", "redis"} if down == "both" else {down}), body


async def test_a_hop_with_the_database_hung_is_answered_well_within_10s(aiohttp_client, settings, hung_port):
    client = await aiohttp_client(create_app(settings.with_(database_url=hung_sql(hung_port), database_schema=None,
                                                            ledger_key=LEDGER_KEY)))
    started = time.monotonic()
    resp = await client.post("/ussd/africastalking", data=at_form(new_session_id(), ""))
    took = time.monotonic() - started
    assert took < 8.0, took
    assert resp.status < 500 or took < 8.0
    text = await resp.text()
    assert resp.status == 200 and text.startswith("END "), (resp.status, text)
