"""A repeated pick: aggregators that send a hop id run it at once; Arkesel (our own hop count: a retry of an
answered hop looks the same) asks once within USSD_RETRY_WINDOW_SECONDS and runs it after the window."""
from __future__ import annotations

import pytest

from tests.test_aggregator_conformance import TABLES, USER, Line, _registered
from ussd_app.app import create_app

WALLET, HISTORY = "Money:", "No transactions yet."
ASKED = "You pressed 1 again. Press 1 once more to choose it."

CASES = [  # (aggregator, retry window in seconds, the second `1` asks first)
    ("africastalking", 30, False),
    ("beem", 30, False),
    ("hubtel", 30, False),
    ("arkesel", 30, True),
    ("arkesel", 0, False),                 # after the window: taken at once
]


@pytest.mark.parametrize("name,window,asks", CASES)
async def test_a_repeated_pick(aiohttp_client, settings, name, window, asks):
    client = await aiohttp_client(create_app(settings.with_(ussd_retry_window_seconds=window)))
    line = await _registered(client, TABLES[name].wire(), USER, "Mwila")
    await line.dial()
    assert WALLET in await line.press("1")
    second = await line.press("1")
    if asks:
        assert second.startswith("CON " + ASKED) and WALLET in second, second
        assert HISTORY in await line.press("1")                   # the next identical press is taken
    else:
        assert HISTORY in second, second


async def test_an_arkesel_retry_asks_once_and_another_key_runs_at_once(client):
    line = await _registered(client, TABLES["arkesel"].wire(), USER, "Mwila")
    await line.dial()
    wallet = await line.press("1")
    asked = await line.resend()                                  # the retry of the answered hop: asked
    assert asked.startswith("CON " + ASKED) and asked.endswith(wallet[len("CON "):].split("\n", 1)[1]), asked
    other = await line.press("2")                                # another key: runs, no question
    assert ASKED not in other and WALLET not in other, other


async def test_a_repeated_text_that_is_no_pick_of_the_screen_is_taken(client):
    """The PIN and its confirmation are the same text: not a pick of a menu, so never asked (nor shown)."""
    line = Line(client, TABLES["arkesel"].wire(), USER)
    await line.dial()
    assert "Mwila" in await line.press("1", "Mwila", "3971", "3971")
