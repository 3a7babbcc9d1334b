"""Africa's Talking USSD adapter conformance, courier style: one table of cases, one harness.

Each case is a list of requests posted in order to the real app (real Redis, real SQL);
the last response is checked for status and body fragments.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import UssdSessionEvent
from tests.helpers import assert_screen_ok, at_form, new_session_id
from ussd_app import appkeys

SID = "{sid}"          # replaced by a fresh session id per case


@dataclass
class Case:
    label: str
    hops: list[dict[str, str]]                    # forms, posted in order; SID becomes the session id
    status: int = 200
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    token: str | None = None                      # the app's WEBHOOK_TOKEN
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None                   # send this instead of a form
    content_type: str | None = None


NEW_USER = "+260971200001"
ONBOARD = ["", "1", "1*Natasha", "1*Natasha*4826", "1*Natasha*4826*4826"]


def _hops(*texts: str, msisdn: str = NEW_USER, **extra) -> list[dict[str, str]]:
    return [at_form(SID, t, msisdn, **extra) for t in texts]


CASES = [
    Case("new session shows the language menu", _hops(""), contains=("CON ", "1 English", "4 Kiswahili")),
    Case("cumulative text is reduced to the newest input", _hops("", "1", "1*Natasha"),
         contains=("CON ", "Choose a 4-digit PIN")),
    Case("a '*' inside one input stays one input (name rejected as a whole)",
         _hops("", "1", "1*Nat*asha"), contains=("Type your name: 2 to 20 letters.",)),
    Case("registration through cumulative text lands on the main menu", _hops(*ONBOARD),
         contains=("CON Welcome, Natasha!", "1 Wallet", "3 Settings")),
    Case("dial-string shortcut from a registered user opens the item",
         _hops(*ONBOARD) + [at_form("second-" + SID, "3", NEW_USER)], contains=("CON Settings", "2 Change PIN")),
    Case("dial-string shortcut from a new user starts onboarding", _hops("1*2"),
         contains=("CON ", "Choose your language")),
    Case("unicode in text is just a wrong answer", _hops("", "ñ€😀"),
         contains=("CON Type 1, 2, 3 or 4.",)),
    Case("unicode name is refused with what to type", _hops("", "1", "1*Zoë"),
         contains=("Type your name: 2 to 20 letters.",)),
    Case("number without '+' is accepted", _hops("", msisdn="260971200002"), contains=("CON ",)),
    Case("Tanzanian number sees Swahili", _hops("", msisdn="+255712200003"), contains=("Karibu Enerlectra",)),
    Case("Kenyan number gets a polite END", _hops("", msisdn="+254711082000"),
         contains=("END ", "Zambian and Tanzanian")),
    Case("missing sessionId", [{"phoneNumber": NEW_USER, "text": ""}], status=400, contains=("sessionId",)),
    Case("missing phoneNumber", [{"sessionId": "x1", "text": ""}], status=400, contains=("phoneNumber",)),
    Case("phoneNumber that is not a number", _hops("", msisdn="hello"), status=400,
         contains=("not a phone number",)),
    Case("phoneNumber too short", _hops("", msisdn="+26097"), status=400, contains=("phone number",)),
    Case("JSON instead of a form", [], raw_body='{"sessionId": "x"}', content_type="application/json",
         status=400, contains=("expected a form",)),
    Case("text too long", _hops("1" * 1001), status=400, contains=("text is too long",)),
    Case("wrong secret", _hops(""), token="s3cret", query={"token": "nope"}, status=403),
    Case("no secret when one is configured", _hops(""), token="s3cret", status=403),
    Case("secret in the query", _hops(""), token="s3cret", query={"token": "s3cret"}, contains=("CON ",)),
    Case("secret in the header", _hops(""), token="s3cret", headers={"X-Webhook-Token": "s3cret"},
         contains=("CON ",)),
]


@pytest.fixture
def make_client(aiohttp_client, settings):
    from ussd_app.app import create_app

    async def make(token: str | None):
        return await aiohttp_client(create_app(settings.with_(webhook_token=token)))
    return make


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_ussd_conformance(case: Case, make_client):
    client = await make_client(case.token)
    sid = new_session_id()
    if case.raw_body is not None:
        resp = await client.post("/ussd/africastalking", data=case.raw_body,
                                 headers={"Content-Type": case.content_type, **case.headers}, params=case.query)
    for form in case.hops:
        form = {k: v.replace(SID, sid) for k, v in form.items()}
        resp = await client.post("/ussd/africastalking", data=form, params=case.query, headers=case.headers)
    body = await resp.text()
    assert resp.status == case.status, body
    for fragment in case.contains:
        assert fragment in body, body
    for fragment in case.absent:
        assert fragment not in body, body
    if resp.status == 200:
        assert resp.content_type == "text/plain"
        assert_screen_ok(body)
    else:
        assert "\n" == body[-1] and body.count("\n") == 1, "a 4xx says one line"


async def test_retransmitted_hop_returns_the_stored_reply_and_runs_nothing(client):
    sid = new_session_id()
    for text in ["", "1"]:
        await client.post("/ussd/africastalking", data=at_form(sid, text, NEW_USER))
    first = await (await client.post("/ussd/africastalking", data=at_form(sid, "1*Natasha", NEW_USER))).text()
    again = await (await client.post("/ussd/africastalking", data=at_form(sid, "1*Natasha", NEW_USER))).text()
    assert first == again and "Choose a 4-digit PIN" in first
    metrics = await (await client.get("/metrics")).text()
    assert "ussd_replays_total 1.0" in metrics


EVENT = {"date": "2026-11-22 10:00:00", "sessionId": "ATUid_ev1", "serviceCode": "*123#",
         "networkCode": "64502", "phoneNumber": "+260961200004", "status": "Incomplete",
         "cost": "ZMW 0.10", "durationInMillis": "35000", "hopsCount": "4", "input": "1*2*0",
         "lastAppResponse": "CON Settings", "errorMessage": ""}


@pytest.mark.parametrize("cost,currency,amount", [("ZMW 0.10", "ZMW", "0.10"), ("0.25", None, "0.25"),
                                                  ("", None, None), ("junk", None, None)])
async def test_end_of_session_event_is_stored_once(client, cost, currency, amount):
    for _ in range(2):   # AT may notify twice; one row
        resp = await client.post("/ussd/africastalking/events", data={**EVENT, "cost": cost})
        assert resp.status == 200
    async with client.app[appkeys.DB]() as s:
        rows = (await s.execute(select(UssdSessionEvent))).scalars().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.cost_currency, row.cost_amount) == (currency, amount)
    assert (row.status, row.hops, row.duration_ms, row.input) == ("Incomplete", 4, 35000, "1*2*0")


async def test_end_of_session_event_without_status_is_400(client):
    resp = await client.post("/ussd/africastalking/events", data={"sessionId": "x"})
    assert resp.status == 400
    async with client.app[appkeys.DB]() as s:
        assert (await s.execute(select(func.count()).select_from(UssdSessionEvent))).scalar() == 0


async def test_healthz_checks_redis_and_sql(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "redis": "ok", "sql": "ok"}


async def test_metrics_count_hops_sessions_and_errors(client):
    sid = new_session_id()
    await client.post("/ussd/africastalking", data=at_form(sid, ""))
    await client.post("/ussd/africastalking", data=at_form(sid, "9"))
    await client.post("/ussd/africastalking", data=at_form(sid, "", msisdn="bogus"))
    body = await (await client.get("/metrics")).text()
    assert 'ussd_hops_total{aggregator="africastalking",outcome="con"} 2.0' in body
    assert "ussd_sessions_started_total 1.0" in body
    assert 'ussd_errors_total{kind="bad_request"} 1.0' in body
    assert 'ussd_hop_seconds_count{aggregator="africastalking"} 2.0' in body


async def test_redis_down_gives_an_apology_not_a_500(aiohttp_client, settings):
    from ussd_app.app import create_app

    with socket.socket() as s:                     # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    client = await aiohttp_client(create_app(settings.with_(redis_url=dead)))
    resp = await client.post("/ussd/africastalking", data=at_form(new_session_id(), ""))
    assert resp.status == 200
    assert await resp.text() == "END Sorry, Enerlectra is not available right now. Please dial again later."
    health = await client.get("/healthz")
    assert health.status == 503 and (await health.json())["redis"].startswith("error")
