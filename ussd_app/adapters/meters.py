"""`POST /meters/readings`: a meter (or its gateway) reports cumulative Wh, authenticated by its secret.

    POST /meters/readings   X-Meter-Secret: ABCD-EFGH
    {"meter": "MTR-001", "export_wh": 12500, "import_wh": 3400, "timestamp": "2026-11-22T10:00:00Z"}

`meter` is the serial an operator registered it under. 200 {"status": "baseline" | "credited" | "duplicate",
"credited_wh", "debited_wh"}; 202 "flagged" with a reason (backwards, or over a cap: kept for an operator,
nothing credited); 409 older than the last reading or than METER_MAX_READING_AGE_HOURS; 400 malformed (see
ussd_app/adapters/bounds.py), dated outside the years 2000-2100, or in the future; 401 unknown meter or wrong
secret (one answer for both).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from aiohttp import web

from enerlectra.domain import meters
from enerlectra.domain.account_texts import meter_receipt
from enerlectra.domain.work import unit_of_work
from ussd_app import appkeys
from ussd_app.adapters.bounds import YEARS, Rejected, check_json, sane_year

log = logging.getLogger(__name__)


MAX_WH = 10**12          # a cumulative register: a terawatt-hour is beyond any meter we will see
STAMP = "timestamp: ISO 8601 with a time zone, like 2026-11-22T10:00:00Z"


def _bad(reason: str, line: str) -> Rejected:
    return Rejected(reason, line, as_json=True)


def parse(body: bytes) -> meters.Reading:
    """A reading from a body guards.edge_guard already held to the JSON bounds."""
    data = check_json(body, as_json=True)
    if not isinstance(data, dict):
        raise _bad("wrong_type", "body is a JSON object")
    number, stamp = data.get("meter"), data.get("timestamp")
    export_wh, import_wh = data.get("export_wh"), data.get("import_wh")
    if not isinstance(number, str) or not 0 < len(number.strip()) <= 40:
        raise _bad("missing_field" if number is None else "wrong_type",
                   "meter: the meter number, 1 to 40 characters")
    for name, value in (("export_wh", export_wh), ("import_wh", import_wh)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_WH:
            raise _bad("missing_field" if value is None else "bad_number",
                       f"{name}: cumulative watt-hours, a whole number from 0 to {MAX_WH}")
    if not isinstance(stamp, str):
        raise _bad("missing_field" if stamp is None else "wrong_type", STAMP)
    try:
        read_at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise _bad("bad_date", STAMP) from None
    if read_at.tzinfo is None:
        raise _bad("bad_date", STAMP)
    if not sane_year(read_at):                  # year 1 at +02:00 is before year 1 in UTC: an overflow
        raise _bad("bad_date", f"timestamp: a year from {YEARS[0]} to {YEARS[1]}")
    return meters.Reading(number, export_wh, import_wh, read_at.astimezone(timezone.utc))


async def readings(request: web.Request) -> web.Response:
    app = request.app
    secret = request.headers.get("X-Meter-Secret", "")
    reading = parse(await request.read())
    limits = meters.Limits.from_settings(app[appkeys.SETTINGS])
    try:
        async with unit_of_work(app[appkeys.DB]) as s:      # the owner's receipt is sent after the commit
            outcome = await meters.record(s, reading, secret, limits, receipt=meter_receipt)
    except meters.UnknownMeter:
        raise web.HTTPUnauthorized(text=json.dumps({"error": "unknown meter or wrong secret"}),
                                   content_type="application/json") from None
    except meters.OutOfOrder as exc:
        raise web.HTTPConflict(text=json.dumps({"error": f"out of order: {exc}"}),
                               content_type="application/json") from None
    except ValueError as exc:
        raise _bad("bad_reading", str(exc)) from None
    if outcome.status == "flagged":
        log.warning("meter %s reading at %s flagged: %s", reading.number, reading.read_at, outcome.reason)
    return web.json_response({"status": outcome.status, "credited_wh": outcome.credited_wh,
                              "debited_wh": outcome.debited_wh, "reason": outcome.reason},
                             status=202 if outcome.status == "flagged" else 200)


def routes() -> list[web.RouteDef]:
    return [web.post("/meters/readings", readings)]
