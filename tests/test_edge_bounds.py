"""Malformed input at every webhook (issue 16, item 10): a table of every webhook x every malformed family
-> a 4xx with a one-line body; a property (random bytes, JSON of any depth, any form values -> never a 5xx);
no traceback in the log for bad input; every 4xx counted by reason in /metrics.

The app runs with the local payment sandboxes configured (as `serve` does) and a webhook token, so payment
callbacks get past auth to their parser. SQLite by default, PostgreSQL with TEST_DATABASE_URL (where NUL
characters and over-long fields used to fail).
"""
from __future__ import annotations

import json
import logging
import random
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bench.fuzz import ENDPOINTS, FORM, JSON, METER, METER_SECRET, TOKEN, Endpoint, _register_meter
from payments.sandboxes import local as local_payments
from ussd_app import appkeys
from ussd_app.app import create_app

FORM_EPS = [ep for ep in ENDPOINTS if ep.kind == "form"]
JSON_EPS = [ep for ep in ENDPOINTS if ep.kind == "json"]
DEEP = "[" * 5000 + "1" + "]" * 5000


def base(ep: Endpoint) -> dict:
    """A well-formed body for the webhook; a fixed seed keeps the table's rows the same on every run."""
    return ep.base(random.Random(16))


@pytest.fixture
async def edge(aiohttp_client, settings):
    """The app with every payment provider configured and a webhook token; a registered meter."""
    configured, boxes = local_payments.plan(settings.with_(webhook_token=TOKEN), auto=True)
    async with local_payments.serving(boxes):
        client = await aiohttp_client(create_app(configured))
        await _register_meter(client.app[appkeys.DB])
        yield client


async def post(client, ep: Endpoint, body: bytes, content_type: str, **headers: str):
    headers = {"Content-Type": content_type, "X-Webhook-Token": TOKEN, "X-Meter-Secret": METER_SECRET,
               **headers}
    return await client.request(ep.method, ep.path.format(token=TOKEN), data=body, headers=headers)


# -- the table: webhook x family -> 4xx with one line -------------------------------------------------

def form_body(data: dict) -> bytes:
    return urlencode(data).encode()


# One number-shaped field per form webhook that must be a number (or a phone number) and the field whose
# excess length reaches a column, as the issue found them (linkId, cost).
NUMBER_FIELD = {"ussd": "phoneNumber", "ussd events": "durationInMillis", "sms inbound": "from",
                "sms delivery": "retryCount"}
LONG_FIELD = {"ussd": "sessionId", "ussd events": "cost", "sms inbound": "linkId", "sms delivery": "id"}
REQUIRED = {"ussd": "sessionId", "ussd events": "status", "sms inbound": "from", "sms delivery": "status"}


def form_case(ep: Endpoint, family: str) -> tuple[bytes, str] | None:
    data = base(ep)
    if family == "random_bytes":
        return bytes(range(256)) * 8, FORM
    if family == "deep_json":
        return DEEP.encode(), JSON
    if family == "huge_numbers":
        return form_body({**data, NUMBER_FIELD[ep.name]: "1e20"}), FORM
    if family == "nul_bytes":
        return form_body({**data, REQUIRED[ep.name]: "a\x00b"}), FORM
    if family == "over_long":
        return form_body({**data, LONG_FIELD[ep.name]: "9" * 5000}), FORM
    if family == "wrong_types":
        return form_body(data) + b"&" + form_body({REQUIRED[ep.name]: "again"}), FORM
    if family == "missing_fields":
        return form_body({k: v for k, v in data.items() if k != REQUIRED[ep.name]}), FORM
    if family == "bad_dates":        # only the end-of-session notice's date is stored (an SMS's is not read)
        stored = ep.name == "ussd events"
        return (form_body({**data, "date": "0001-01-01 00:00:00"}), FORM) if stored else None
    if family == "wrong_content_type":
        return json.dumps(data).encode(), JSON
    raise AssertionError(family)


def json_case(ep: Endpoint, family: str) -> tuple[bytes, str] | None:
    data = base(ep)
    text = json.dumps(data)
    first = next(iter(data))                      # the field each callback's parser reads first
    if family == "random_bytes":
        return bytes(range(256)) * 8, JSON
    if family == "deep_json":
        return DEEP.encode(), JSON
    if family == "huge_numbers":
        return text.replace(json.dumps(data[first]), "1e400", 1).encode(), JSON
    if family == "nul_bytes":
        return text.replace(json.dumps(data[first]), '"a\\u0000b"', 1).encode(), JSON
    if family == "over_long":
        return text.replace(json.dumps(data[first]), json.dumps("9" * 5000), 1).encode(), JSON
    if family == "wrong_types":
        return json.dumps([data]).encode(), JSON
    if family == "missing_fields":
        return b"{}", JSON
    if family == "bad_dates":                   # only a meter reading carries a date we read
        return (json.dumps({**data, "timestamp": "0001-01-01T00:30:00+02:00"}).encode(), JSON) \
            if "timestamp" in data else None
    if family == "wrong_content_type":
        return form_body({k: str(v) for k, v in data.items()}), FORM
    raise AssertionError(family)


FAMILIES = ["random_bytes", "deep_json", "huge_numbers", "nul_bytes", "over_long", "wrong_types",
            "missing_fields", "bad_dates", "wrong_content_type"]
TABLE = [(ep, family, case) for ep in ENDPOINTS for family in FAMILIES
         if (case := (form_case if ep.kind == "form" else json_case)(ep, family)) is not None]


def one_line_4xx(status: int, text: str) -> bool:
    one_line = bool(text) and "\n" not in text and len(text) < 200 and "Traceback" not in text
    return 400 <= status < 500 and one_line


async def test_every_webhook_answers_every_malformed_family_with_a_one_line_4xx(edge):
    """One app for the whole table (a fresh database per row would cost a second each); every row that
    fails is listed."""
    wrong = []
    for ep, family, (body, content_type) in TABLE:
        resp = await post(edge, ep, body, content_type)
        text = (await resp.text()).strip()
        if not one_line_4xx(resp.status, text):
            wrong.append((ep.name, family, resp.status, text[:120]))
    assert wrong == [], wrong
    # bad_dates has rows for the end-of-session notice and the meter only
    assert len(TABLE) == len(ENDPOINTS) * len(FAMILIES) - (len(ENDPOINTS) - 2)


async def test_a_header_over_8_kb_is_a_4xx_with_one_line_at_every_webhook(edge):
    """aiohttp's parser refuses it before any route; it must not take a traceback into the log either
    (test_bad_input_logs_no_traceback)."""
    wrong = []
    for ep in ENDPOINTS:
        data = base(ep)
        body = form_body(data) if ep.kind == "form" else json.dumps(data).encode()
        resp = await post(edge, ep, body, FORM if ep.kind == "form" else JSON, **{"X-Padding": "a" * 9000})
        text = (await resp.text()).strip()
        if not one_line_4xx(resp.status, text):
            wrong.append((ep.name, resp.status, text[:120]))
    assert wrong == [], wrong


# Values that were accepted, or failed later, before the bounds: each is now its own row.
EDGE_ROWS = [
    ("ussd events", {"durationInMillis": "inf"}, "durationInMillis"),
    ("ussd events", {"hopsCount": "1e20"}, "hopsCount"),
    ("ussd events", {"hopsCount": "99999999999"}, "hopsCount"),
    ("ussd events", {"date": "99999-01-01 00:00:00"}, "date"),
    ("ussd events", {"cost": "ZMW " + "1" * 30}, "cost"),
    ("sms inbound", {"linkId": "L" * 101}, "linkId"),
    ("sms inbound", {"to": "2" * 21}, "to"),
    ("sms delivery", {"failureReason": "F" * 65}, "failureReason"),
    ("ussd", {"networkCode": "6" * 11}, "networkCode"),
]


async def test_each_bounded_form_field_names_itself_in_its_400(edge):
    wrong = []
    for name, change, field in EDGE_ROWS:
        ep = next(ep for ep in ENDPOINTS if ep.name == name)
        resp = await post(edge, ep, form_body({**base(ep), **change}), FORM)
        if resp.status != 400 or field not in await resp.text():
            wrong.append((name, change, resp.status, (await resp.text())[:120]))
    assert wrong == [], wrong


METER_ROWS = [
    ("year 1", {"timestamp": "0001-01-01T00:00:00Z"}, "year"),
    ("year 1 east of UTC (overflows converting)", {"timestamp": "0001-01-01T00:30:00+02:00"}, "year"),
    ("year 9999", {"timestamp": "9999-12-31T23:59:59Z"}, "year"),
    ("a register wider than BIGINT", {"export_wh": 10**30}, "out of range"),
    ("a register past a terawatt-hour", {"export_wh": 10**13}, "export_wh"),
    ("a register of 1e20 as a float", {"import_wh": 1e20}, "import_wh"),
    ("a timestamp that is a number", {"timestamp": 20261129}, "timestamp"),
]


async def test_meter_readings_outside_the_bounds_get_a_json_400(edge):
    ep, wrong = next(ep for ep in ENDPOINTS if ep.name == "meter readings"), []
    for label, change, says in METER_ROWS:
        resp = await post(edge, ep, json.dumps({**base(ep), **change}).encode(), JSON)
        if resp.status != 400 or says not in (await resp.json())["error"]:
            wrong.append((label, resp.status, await resp.text()))
    assert wrong == [], wrong


# Strings within every bound that a provider's own parser turns into numbers (AzamPay's amount).
PARSED_STRINGS = [("azampay callback", "amount", raw) for raw in ("Infinity", "-Infinity", "NaN", "1e9999999",
                                                                  "-1e30", "12abc")]


async def test_numbers_in_strings_never_crash_a_providers_parser(edge):
    wrong = []
    for name, field, raw in PARSED_STRINGS:
        ep = next(ep for ep in ENDPOINTS if ep.name == name)
        resp = await post(edge, ep, json.dumps({**base(ep), field: raw}).encode(), JSON)
        if not one_line_4xx(resp.status, (await resp.text()).strip()):     # an unknown reference: 404
            wrong.append((name, raw, resp.status, (await resp.text())[:120]))
    assert wrong == [], wrong


async def test_a_well_formed_reading_and_notice_still_pass(edge):
    """The bounds refuse the malformed, not the normal: a valid reading is credited, a valid notice stored."""
    meter = next(ep for ep in ENDPOINTS if ep.name == "meter readings")
    resp = await post(edge, meter, json.dumps({**base(meter), "export_wh": 500}).encode(), JSON)
    assert resp.status == 200, await resp.text()
    events = next(ep for ep in ENDPOINTS if ep.name == "ussd events")
    resp = await post(edge, events, form_body(base(events)), FORM)
    assert resp.status == 200, await resp.text()


# -- the property: nothing posted to any webhook yields a 5xx -------------------------------------------

FORM_VALUES = st.text(max_size=300) | st.sampled_from(["inf", "nan", "1e20", "-1", "0001-01-01 00:00:00", ""])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
                       lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=30)
BODIES = st.one_of(
    st.tuples(st.binary(max_size=2000),
              st.sampled_from([FORM, JSON, "application/octet-stream", "text/plain"])),
    st.tuples(st.integers(1, 30_000).map(lambda d: ("[" * d + "]" * d).encode()), st.just(JSON)),
    st.tuples(JSONISH.map(lambda v: json.dumps(v).encode()), st.just(JSON)),
)
FUZZ = hsettings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(ep=st.sampled_from(ENDPOINTS), case=BODIES)
async def test_any_body_to_any_webhook_is_never_a_5xx(edge, ep, case):
    body, content_type = case
    resp = await post(edge, ep, body, content_type)
    assert resp.status < 500, (ep.name, resp.status, (await resp.text())[:200])


@FUZZ
@given(ep=st.sampled_from(FORM_EPS), values=st.data())
async def test_any_form_values_to_any_form_webhook_are_never_a_5xx(edge, ep, values):
    data = base(ep)
    changed = values.draw(st.dictionaries(st.sampled_from(sorted(data)), FORM_VALUES, max_size=len(data)))
    resp = await post(edge, ep, form_body({**data, **changed}), FORM)
    assert resp.status < 500, (ep.name, changed, resp.status, (await resp.text())[:200])


@FUZZ
@given(ep=st.sampled_from(JSON_EPS), values=st.data())
async def test_any_json_values_to_any_json_webhook_are_never_a_5xx(edge, ep, values):
    data = base(ep)
    changed = values.draw(st.dictionaries(st.sampled_from(sorted(data)), JSONISH, max_size=len(data)))
    resp = await post(edge, ep, json.dumps({**data, **changed}).encode(), JSON)
    assert resp.status < 500, (ep.name, changed, resp.status, (await resp.text())[:200])


# -- the log and the metrics ------------------------------------------------------------------------------

async def test_bad_input_logs_no_traceback(edge, caplog):
    """A deep JSON body, an infinite count, a NUL, a year-1 reading and a header over 8 KB: each a 4xx, and
    the log holds no ERROR and no traceback (the header: one WARNING line from aiohttp's server logger)."""
    caplog.set_level(logging.DEBUG)
    meter, events, inbound = (next(ep for ep in ENDPOINTS if ep.name == n)
                              for n in ("meter readings", "ussd events", "sms inbound"))
    probes = [(meter, DEEP.encode(), JSON, {}), (JSON_EPS[1], DEEP.encode(), JSON, {}),
              (events, form_body({**base(events), "durationInMillis": "inf"}), FORM, {}),
              (inbound, form_body({**base(inbound), "linkId": "x\x00"}), FORM, {}),
              (meter, json.dumps({**base(meter), "timestamp": "0001-01-01T00:30:00+02:00"}).encode(), JSON,
               {}),
              (inbound, form_body(base(inbound)), FORM, {"X-Padding": "a" * 9000})]
    for ep, body, content_type, headers in probes:
        resp = await post(edge, ep, body, content_type, **headers)
        assert 400 <= resp.status < 500, (ep.name, resp.status)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [(r.name, r.getMessage()[:120]) for r in loud]
    parser_lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(parser_lines) == 1 and parser_lines[0].levelno == logging.WARNING
    assert "\n" not in parser_lines[0].getMessage()


async def test_every_4xx_counts_in_metrics_by_reason(edge):
    """A missing field, a forged token, a too-deep body and a header over 8 KB: each counted by reason."""
    ussd, mtn = ENDPOINTS[0], next(ep for ep in ENDPOINTS if ep.name == "mtn callback")
    await post(edge, ussd, form_body({"phoneNumber": "+260971234567", "text": ""}), FORM)
    await edge.post("/ussd/africastalking", data=form_body(base(ussd)),
                    headers={"Content-Type": FORM, "X-Webhook-Token": "a guess"})
    await post(edge, mtn, DEEP.encode(), JSON)
    await post(edge, ussd, form_body(base(ussd)), FORM, **{"X-Padding": "a" * 9000})
    text = await (await edge.get("/metrics")).text()
    for line in ['http_rejections_total{endpoint="/ussd/africastalking",reason="missing_field"} 1.0',
                 'http_rejections_total{endpoint="/ussd/africastalking",reason="forbidden"} 1.0',
                 'http_rejections_total{endpoint="/payments/{provider}/callback/{token}",'
                 'reason="too_deep"} 1.0',
                 'http_rejections_total{endpoint="http",reason="bad_http"} 1.0']:
        assert line in text, line
