"""The contract every USSD aggregator adapter keeps (protocols.md sections 1 and 11).

An adapter turns its wire format into the neutral request (`UssdRequest`: session id, E.164 number, country,
operator, service code, `is_new`, the input as sent, and a `hop_id` the aggregator sends again on a retry of
the same hop), or into a `Notice` (the aggregator says the session ended); it says how the session's path grows
(`path_rule`: cumulative for Africa's Talking, appended for the others); it renders a reply in its format; it
authenticates a request (a secret token in the path, the query or a header). Nothing past the adapter knows
`1*2*3`, `CON`/`END` or JSON. One generic view (view.py) drives every adapter; registry.py names them.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from enerlectra.ussd.types import UssdReply, UssdRequest
from ussd_app.adapters.auth import check_token
from ussd_app.adapters.bounds import Field, Rejected, json_text
from ussd_app.engine import paths

Hop = UssdRequest      # the neutral request: one hop


@dataclass(frozen=True)
class Notice:
    """The aggregator says a session is over (the user left, it was released, or it timed out)."""

    session_id: str            # namespaced as the hops' (see Aggregator.session_id)
    status: str                # Ended / Timeout (ussd_session_events.status)
    msisdn: str = ""
    service_code: str = ""
    network_code: str = ""


@dataclass(frozen=True)
class Config:
    """What registry.py resolves from settings for one aggregator."""

    enabled: bool
    token: str | None
    service_codes: tuple[str, ...]


class Aggregator(ABC):
    """One aggregator's wire format. Subclasses set `name`, `body` and `fields` and write parse/render."""

    name: str = ""
    body: str = "json"                     # "json" or "form": what the edge guard checks (bounds.py)
    fields: dict[str, Field] = {}          # JSON: dotted field names -> bounds (forms: bounds.FORMS)
    path_rule: str = paths.APPENDED        # how the session's path grows (the engine: engine/paths.py)
    # True when the aggregator sends no hop id and we count hops ourselves (with_hop_id): a retry of an
    # answered hop then looks like the same key pressed again, so the engine asks before taking a repeat.
    own_hop_ids: bool = False
    enabled_by_default: bool = False       # answers without USSD_<NAME>_ENABLED=1 (Africa's Talking only)

    def __init__(self, config: Config):
        self.config = config

    # -- in ----------------------------------------------------------------------------------------

    async def read(self, request: web.Request) -> dict[str, Any]:
        """The body the edge guard already held to its bounds: a JSON object (or a form's text fields)."""
        if self.body == "form":
            return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        data = json.loads(await request.read())
        if not isinstance(data, dict):
            raise Rejected("wrong_type", "the body must be a JSON object")
        return data

    def authenticate(self, request: web.Request) -> None:
        """A 403 unless the request carries this aggregator's token (when one is configured)."""
        check_token(request, self.config.token)

    @abstractmethod
    def parse(self, body: dict[str, Any]) -> Hop | Notice:
        """The neutral request or a notice; raises Rejected (400), InvalidMsisdn or UnsupportedCountry."""

    def session_id(self, raw: str) -> str:
        """Session ids are the aggregator's own: the others' are namespaced so two cannot meet in Redis or in
        a money key (Africa's Talking's stay bare, so its keys are what they always were)."""
        return f"{self.name}:{raw}"

    def shortcut(self, dial: str) -> str:
        """A first hop's dial string as inputs: `*123*4*1#` against service code `*123#` -> "4*1"; the plain
        service code, or anything not a dial string of ours, -> ""."""
        dial = dial.strip()
        if not (dial.startswith("*") and dial.endswith("#")):
            return ""
        for code in sorted(self.config.service_codes, key=len, reverse=True):
            base = code.strip().rstrip("#")
            if dial.startswith(base + "*"):
                return dial[len(base) + 1:-1]
        return ""

    async def with_hop_id(self, hop: Hop, store) -> Hop:
        """The hop as the engine takes it; an aggregator without a sequence of its own counts (arkesel.py)."""
        return hop

    # -- out ---------------------------------------------------------------------------------------

    @abstractmethod
    def render(self, reply: UssdReply, body: dict[str, Any]) -> web.Response:
        """The reply in the aggregator's format; `body` is the request it answers (some echo its fields)."""

    def acknowledge(self, notice: Notice, body: dict[str, Any]) -> web.Response:
        """The 200 a notice gets."""
        return web.json_response({"status": "ok"})

    def extra_routes(self) -> list[web.RouteDef]:
        """Endpoints of its own besides `/ussd/NAME` (such as Africa's Talking's events URL), its token's."""
        return []


# -- reading JSON fields the edge guard bounded ------------------------------------------------------

def get(body: dict[str, Any], name: str, *, required: bool = False, as_typed: bool = False) -> str:
    """A field as text (numbers normalised: 255762089337 and "255762089337" are the same); dotted names read
    nested objects. Missing and required: a 400 naming it. `as_typed`: a user's input, kept unstripped."""
    value: Any = body
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, (dict, list)):
        raise Rejected("wrong_type", f"{name} must be text or a number")
    value = json_text(value)            # the text the edge guard held to the field's bound
    if required and not value.strip():
        raise Rejected("missing_field", f"{name} is required")
    return value if as_typed else value.strip()


def flag(body: dict[str, Any], name: str) -> bool:
    """A JSON boolean as aggregators send it: true, "true", 1 or "1"."""
    return get(body, name).lower() in ("true", "1", "yes")
