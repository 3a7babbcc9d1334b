"""The bounds every webhook's input keeps before a handler sees it, one place per concern: form fields
(presence, length, integer ranges, dates), JSON bodies (size, nesting depth, finite numbers in range, string
length), NUL characters, and dates within a sane window.

Anything outside gets a 400 with one line (never a 5xx: aggregators and providers retry those forever, and
PostgreSQL refuses what SQLite stores, so only one database would fail). Each refusal names its reason, which
/metrics counts (`http_rejections_total`, see guards.count_rejections).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

MAX_JSON_BYTES = 64 * 1024      # a callback or a reading is well under 2 KB
MAX_JSON_DEPTH = 16             # providers nest 3 levels at most
MAX_JSON_STRING = 2000          # an AzamPay RSA-4096 signature is 684 characters
MAX_INT = 2**63 - 1             # a BIGINT: anything wider cannot be stored
MAX_OTHER_FIELD = 2000          # form fields we do not read are bounded all the same
YEARS = (2000, 2100)            # dates outside are typos or attacks, not readings or sessions
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


class Rejected(web.HTTPBadRequest):
    """A 400 with one line, and the reason /metrics counts it under."""

    def __init__(self, reason: str, line: str, *, as_json: bool = False) -> None:
        self.reason_code = reason
        if as_json:
            super().__init__(text=json.dumps({"error": line}), content_type="application/json")
        else:
            super().__init__(text=line + "\n")


def bad(reason: str, line: str) -> Rejected:
    return Rejected(reason, line)


# -- form fields -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    max_len: int
    required: bool = False                     # present and not blank
    integer: tuple[int, int] | None = None     # when given and not blank: a whole number in this range
    at_time: bool = False                      # when given and not blank: YYYY-MM-DD HH:MM:SS within YEARS


AT_DATE = "%Y-%m-%d %H:%M:%S"
_WHOLE = re.compile(r"\d{1,15}(?:\.\d{1,6})?")     # AT sends counts as "3" (or "3.0"); no sign, no exponent

# Column widths are in enerlectra/db/models.py: a field longer than its column never reaches SQL.
AT_USSD_FORM = {
    "sessionId": Field(128, required=True), "phoneNumber": Field(32, required=True), "text": Field(1000),
    "serviceCode": Field(40), "networkCode": Field(10)}
FORMS: dict[str, dict[str, Field]] = {
    "/ussd/africastalking": AT_USSD_FORM,
    "/ussd/africastalking/{token}": AT_USSD_FORM,        # the token in the path (aggregators/registry.py)
    "/ussd/africastalking/events": {
        "sessionId": Field(128, required=True), "status": Field(20, required=True), "phoneNumber": Field(20),
        "serviceCode": Field(40), "networkCode": Field(10), "cost": Field(20),
        "durationInMillis": Field(22, integer=(0, 86_400_000)), "hopsCount": Field(22, integer=(0, 100_000)),
        "input": Field(2000), "lastAppResponse": Field(2000), "errorMessage": Field(2000),
        "date": Field(19, at_time=True)},
    "/sms/africastalking/inbound": {
        "id": Field(100, required=True), "from": Field(32, required=True), "text": Field(2000),
        "to": Field(20), "linkId": Field(100), "networkCode": Field(10), "date": Field(40),
        "cost": Field(40)},
    "/sms/africastalking/delivery": {
        "id": Field(64, required=True), "status": Field(40, required=True), "failureReason": Field(64),
        "phoneNumber": Field(32), "networkCode": Field(10), "retryCount": Field(22, integer=(0, 1000))},
}


def check_form(path: str, form) -> None:
    """`form`: the MultiDict aiohttp parsed. Raises Rejected naming the first field out of bounds."""
    spec = FORMS.get(path, {})
    for name in set(form.keys()):
        values = form.getall(name)
        if len(values) > 1:
            raise bad("wrong_type", f"{name} is given {len(values)} times; send it once")
        value = values[0]
        if not isinstance(value, str):
            raise bad("wrong_type", f"{name} is a text field, not a file")
        _check_value(name, value, spec.get(name) or Field(MAX_OTHER_FIELD))
    for name, field in spec.items():
        if field.required and not str(form.get(name, "")).strip():
            raise bad("missing_field", f"{name} is required")


def _check_value(name: str, value: str, field: Field) -> None:
    if "\x00" in value:
        raise bad("nul", f"{name} holds a NUL character")
    if len(value) > field.max_len:
        raise bad("too_long", f"{name} is too long (at most {field.max_len} characters)")
    if not value.strip():
        return
    if field.integer is not None:
        low, high = field.integer
        if not _WHOLE.fullmatch(value.strip()) or not low <= int(float(value)) <= high:
            raise bad("bad_number", f"{name}: a whole number from {low} to {high}")
    if field.at_time:
        try:
            when = datetime.strptime(value.strip(), AT_DATE)
        except ValueError:
            raise bad("bad_date", f"{name}: a time like 2026-11-29 10:00:00") from None
        if not sane_year(when):
            raise bad("bad_date", f"{name}: a year from {YEARS[0]} to {YEARS[1]}")


def whole(raw: str | None) -> int | None:
    """A form count that check_form let through, as an int (None when blank)."""
    return int(float(raw)) if raw and raw.strip() else None


def at_time(raw: str | None) -> datetime | None:
    """A form time that check_form let through (AT's clock is UTC), None when blank."""
    if not raw or not raw.strip():
        return None
    return datetime.strptime(raw.strip(), AT_DATE).replace(tzinfo=timezone.utc)


def sane_year(when: datetime) -> bool:
    """On the datetime's own fields: converting year 1 (or 9999) between time zones overflows."""
    return YEARS[0] <= when.year <= YEARS[1]


# -- JSON bodies -------------------------------------------------------------------------------------

def check_json_fields(spec: dict[str, Field], data: object, *, as_json: bool = False) -> None:
    """A JSON object's fields held to `spec` (dotted names read nested objects; a USSD aggregator's table is
    in its adapter, ussd_app/aggregators/): text or a number each, within its length; required ones present."""
    if not isinstance(data, dict):
        raise Rejected("wrong_type", "the body must be a JSON object", as_json=as_json)
    for name, field in spec.items():
        value: object = data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (dict, list)):
            raise Rejected("wrong_type", f"{name} must be text or a number", as_json=as_json)
        text = json_text(value)
        if field.required and not text.strip():
            raise Rejected("missing_field", f"{name} is required", as_json=as_json)
        if len(text) > field.max_len:
            raise Rejected("too_long", f"{name} is too long (at most {field.max_len} characters)", as_json=as_json)
        if field.integer is not None and text.strip():
            low, high = field.integer
            if isinstance(value, float) or not text.strip().lstrip("-").isdigit() \
                    or not low <= int(text) <= high:
                raise Rejected("bad_number", f"{name}: a whole number from {low} to {high}", as_json=as_json)


def json_text(value: object) -> str:
    """A JSON scalar as the text an adapter reads (contract.get): the bound is held on this text, so a
    float written out in full (1e200: 201 digits) meets the same length bound as the digits sent as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def check_json(body: bytes, *, as_json: bool = False) -> object:
    """The parsed body, when it keeps every bound; else Rejected with one line."""
    if len(body) > MAX_JSON_BYTES:
        raise Rejected("too_large", f"the body is over {MAX_JSON_BYTES // 1024} KB", as_json=as_json)
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise Rejected("too_deep", TOO_DEEP, as_json=as_json) from None
    except ValueError:          # also bad UTF-8 and integers of over 4,300 digits
        raise Rejected("not_json", "the body is not JSON", as_json=as_json) from None
    problem = _json_problem(data)
    if problem:
        raise Rejected(problem[0], problem[1], as_json=as_json)
    return data


def _json_problem(data: object) -> tuple[str, str] | None:
    """(reason, line) for the first value out of bounds, walking without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return "too_deep", TOO_DEEP
        if isinstance(value, dict):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "nul", "the body holds a NUL character"
            if len(value) > MAX_JSON_STRING:
                return "too_long", f"a JSON string is over {MAX_JSON_STRING} characters"
        elif isinstance(value, float) and not math.isfinite(value):
            return "bad_number", "a JSON number is out of range (finite numbers only)"
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            return "bad_number", f"a JSON integer is out of range (at most {MAX_INT})"
    return None
