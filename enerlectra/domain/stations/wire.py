"""Station protocol v1 on the wire (protocols.md s.12): parse and check what a station sends, build what we send.

A message is trusted only after `parse`: the topic names a station code (4 to 6 digits) and a kind we
subscribe to, the payload is a JSON object of version 1 whose `sid` is the topic's, and each field has its
type. Anything else raises BadMessage with a short reason that never quotes the payload.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

PREFIX = "enx/v1/st"
SUBSCRIPTIONS = ((f"{PREFIX}/+/status", 1), (f"{PREFIX}/+/hb", 0), (f"{PREFIX}/+/evt", 1))
CODE = re.compile(r"[0-9]{4,6}")
SERIAL = re.compile(r"PB[0-9A-Z]{2,18}")
EVENT_TYPES = frozenset({"eject_result", "return", "fault", "boot"})
EJECT_REASONS = frozenset({"expired", "slot_empty", "pb_mismatch", "not_popped", "lock_motor", "comm_timeout",
                           "busy", "unknown"})
LATEST_TS = 253_402_214_400      # 9999-12-31: a ts parse lets through (up to 2**53) beyond it is no datetime
MAX_SLOTS = 99                  # the fake fleet's cabinets (simulator/stations) go as far


class BadMessage(ValueError):
    """A message we drop: the reason names the field, never its value."""


@dataclass(frozen=True)
class SlotReport:
    n: int
    pb: str | None
    soc: int | None
    state: str
    fault: str | None
    health: int | None = None


@dataclass(frozen=True)
class Message:
    sid: str
    kind: str                       # status / hb / evt
    body: dict[str, Any]            # the checked JSON object
    slots: tuple[SlotReport, ...] = ()    # hb only

    @property
    def type(self) -> str | None:  # evt only
        return self.body.get("type")

    @property
    def said_at(self) -> datetime:
        """When the station says it sent this (its clock, `ts`; hb and evt only): unchecked against ours, the
        reader bounds it (a return is billed within [the rental's start, when we heard it])."""
        return datetime.fromtimestamp(min(self.body["ts"], LATEST_TS), timezone.utc)


def topic_of(sid: str, kind: str) -> str:
    return f"{PREFIX}/{sid}/{kind}"


def parse(topic: str, payload: bytes) -> Message:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != PREFIX or parts[4] not in ("status", "hb", "evt"):
        raise BadMessage("not a station topic")
    sid, kind = parts[3], parts[4]
    if not CODE.fullmatch(sid):
        raise BadMessage("station code in the topic is not 4 to 6 digits")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("payload is not JSON") from None
    if not isinstance(body, dict):
        raise BadMessage("payload is not a JSON object")
    if kind == "status":          # the last will carries no ts or seq: {"online": false}
        if not isinstance(body.get("online"), bool):
            raise BadMessage("status without a true/false 'online'")
        if "v" in body or "sid" in body:
            _envelope(body, sid, stamped=False)
        return Message(sid, kind, body)
    _envelope(body, sid, stamped=True)
    if kind == "hb":
        return Message(sid, kind, body, _slots(body.get("slots")))
    return Message(sid, kind, _event(body, sid))


def _envelope(body: dict, sid: str, stamped: bool) -> None:
    if body.get("v") != 1:
        raise BadMessage("protocol version is not 1")
    if body.get("sid") != sid:
        raise BadMessage("sid differs from the topic's")
    if stamped and not (_int(body.get("ts")) and _int(body.get("seq"), low=0)):
        raise BadMessage("ts or seq missing or not whole numbers")


def _int(value: Any, low: int = 1, high: int = 2**53) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _soc(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not _int(value, 0, 100):
        raise BadMessage(f"{what} is not a percentage")
    return value


def _serial(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not SERIAL.fullmatch(value):
        raise BadMessage("pb is not a power-bank serial")
    return value


def _short(value: Any, what: str, longest: int = 40) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise BadMessage(f"{what} is not a short string")
    return value


def _slots(raw: Any) -> tuple[SlotReport, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_SLOTS:
        raise BadMessage("hb without a list of slots")
    found, seen = [], set()
    for slot in raw:
        if not isinstance(slot, dict) or not _int(slot.get("n"), 1, MAX_SLOTS) or slot["n"] in seen:
            raise BadMessage("a slot without a distinct number n")
        seen.add(slot["n"])
        found.append(SlotReport(slot["n"], _serial(slot.get("pb")), _soc(slot.get("soc"), "soc"),
                                _short(slot.get("state"), "state", 12) or "unknown", _short(slot.get("fault"), "fault"),
                                _soc(slot.get("health"), "health")))
    return tuple(found)


def _event(body: dict, sid: str) -> dict:
    kind, evt_id = body.get("type"), body.get("evt_id")
    if kind not in EVENT_TYPES:
        raise BadMessage("unknown event type")
    if not isinstance(evt_id, str) or len(evt_id) > 80 or not evt_id.startswith(f"{sid}:") or evt_id.count(":") != 2:
        raise BadMessage("evt_id is not sid:boot_id:seq")
    if kind != "boot" and not _int(body.get("slot"), 1, MAX_SLOTS):
        raise BadMessage("slot is not a slot number")
    if kind in ("eject_result", "return"):
        _serial(body.get("pb"))
    if kind == "eject_result":
        if not isinstance(body.get("req_id"), str) or not isinstance(body.get("ok"), bool):
            raise BadMessage("eject_result without req_id or ok")
        if not body["ok"] and body.get("reason") not in EJECT_REASONS:
            body = {**body, "reason": "unknown"}          # a reason we do not know: still a failure
    if kind == "return":
        if body.get("pb") is None:
            raise BadMessage("return without pb")
        _soc(body.get("soc"), "soc")
    if kind == "fault":
        _short(body.get("code"), "code")
        if not isinstance(body.get("detail", ""), (str, type(None))):
            raise BadMessage("detail is not text")
    return body


def boot_id(evt_id: str) -> str:
    return evt_id.split(":")[1]


# -- commands (us -> station, QoS 1) ------------------------------------------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_req_id(now_ms: int | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 Crockford base-32 characters (sorts by time)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def command(kind: str, **fields: Any) -> bytes:
    return json.dumps({"v": 1, "type": kind, **fields}, separators=(",", ":")).encode()
