"""Station protocol v1 as a station speaks it (protocols.md s.12): topics, message envelopes, command checks.

Every message from a station carries v, sid, ts (epoch s) and seq (a per-boot counter); events also carry
evt_id = sid:boot_id:seq, unique, because QoS 1 is at least once and the backend dedupes on it.
"""
from __future__ import annotations

import re

VERSION = 1
REASONS = ("expired", "slot_empty", "pb_mismatch", "not_popped", "lock_motor", "comm_timeout", "busy", "unknown")
COMMANDS = ("eject", "inventory", "lock_slot", "unlock_slot")
CODE = re.compile(r"^\d{4,6}$")                  # printed on the cabinet, typed on a keypad
SERIAL = re.compile(r"^PB\d{8}$")
MAX_REQ_ID = 64


def topic(sid: str, kind: str) -> str:
    """enx/v1/st/{sid}/{status|hb|evt|cmd}"""
    return f"enx/v1/st/{sid}/{kind}"


def check_code(code: str) -> str:
    if not CODE.match(str(code)):
        raise ValueError(f"station code {code!r}: 4 to 6 digits, as printed on the cabinet (e.g. 4021)")
    return str(code)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value, longest: int = MAX_REQ_ID) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest


# Each command's fields and what they must be; anything else makes it malformed (logged, ignored).
FIELDS = {
    "eject": {"req_id": _text, "rental_id": _text, "slot": _whole, "pb": _text,
              "issued_at": _number, "expires_at": _number},
    "inventory": {},
    "lock_slot": {"slot": _whole},
    "unlock_slot": {"slot": _whole},
}


def command_problem(command) -> str | None:
    """Why a decoded command cannot be acted on, or None when it is well formed."""
    if not isinstance(command, dict):
        return "not a JSON object"
    if command.get("v") != VERSION:
        return f"protocol version {command.get('v')!r}, not {VERSION}"
    kind = command.get("type")
    if kind not in FIELDS:
        return f"unknown command type {kind!r}"
    wrong = sorted(name for name, fits in FIELDS[kind].items() if not fits(command.get(name)))
    return f"{kind}: missing or wrong {', '.join(wrong)}" if wrong else None
