"""Each aggregator's wire format as the aggregator speaks it to us (protocols.md sections 1 and 11): the
body of a session's first hop, of a later hop and of its end notices, and how its reply reads.

The handset (simulator/phone.py) and the conformance tables (tests/aggregators/) use these, so every journey
can run through every aggregator: `enerlectra sim --aggregator beem`.
"""
from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

# Zambian prefixes -> the networkCode AT sends (protocols.md section 1); anything else: the sandbox code.
NETWORKS = {"+26097": "64501", "+26077": "64501", "+26057": "64501", "+26096": "64502", "+26076": "64502",
            "+26056": "64502", "+26095": "64503", "+26075": "64503", "+26055": "64503"}


def network_code(msisdn: str) -> str:
    return NETWORKS.get(msisdn[:6], "99999")


class WireError(RuntimeError):
    """The server answered something this aggregator could not pass on to a phone."""


@dataclass
class Call:
    """One session as the aggregator keeps it."""

    session_id: str
    msisdn: str               # E.164
    service_code: str         # *123#
    dial: str                 # what was dialled: the service code or a shortcut (*123*4#)
    shortcut: str = ""        # the shortcut's parts (4*1)
    inputs: list[str] = field(default_factory=list)
    hops: int = 0             # hops sent so far
    round_trip: Any = 0       # what the app asked us to send back (Beem's request_id)


@dataclass(frozen=True)
class Answer:
    kind: str                 # CON / END
    text: str


def _national(msisdn: str) -> str:
    return msisdn.lstrip("+")


class Wire(ABC):
    name: str = ""
    form: bool = False        # a form POST (Africa's Talking) or JSON
    # No hop id of its own (the app counts hops): a key pressed again right away may be a retry, so the app
    # asks "You pressed 1 again. Press 1 once more to choose it." (ussd_app/aggregators/arkesel.py)
    asks_on_repeat: bool = False

    def new_call(self, msisdn: str, service_code: str, dial: str, shortcut: str) -> Call:
        return Call(f"{self.name}-sim-{uuid.uuid4().hex[:20]}", msisdn, service_code, dial, shortcut)

    @abstractmethod
    def first(self, call: Call) -> dict: ...

    @abstractmethod
    def next(self, call: Call, text: str) -> dict: ...

    @abstractmethod
    def read(self, call: Call, raw: str) -> Answer: ...

    def read_plain(self, raw: str) -> Answer:
        """A reply read without its session (a raw body posted by hand)."""
        return self.read(None, raw)

    def end_notice(self, call: Call) -> dict | None:
        """The body telling the app the user left (None: this aggregator sends none on its USSD URL)."""
        return None

    def timeout_notice(self, call: Call) -> dict | None:
        return None


class AfricasTalking(Wire):
    name = "africastalking"
    form = True

    def new_call(self, msisdn, service_code, dial, shortcut) -> Call:
        call = super().new_call(msisdn, service_code, dial, shortcut)
        call.session_id = f"ATUid_sim_{uuid.uuid4().hex}"
        return call

    def _form(self, call: Call) -> dict:
        call.hops += 1
        return {"sessionId": call.session_id, "phoneNumber": call.msisdn, "serviceCode": call.service_code,
                "networkCode": network_code(call.msisdn), "text": "*".join(call.inputs)}

    def first(self, call: Call) -> dict:
        call.inputs = [call.shortcut] if call.shortcut else []
        return self._form(call)

    def next(self, call: Call, text: str) -> dict:
        call.inputs.append(text)
        return self._form(call)

    def read(self, call: Call, raw: str) -> Answer:
        kind, _, text = raw.partition(" ")
        if kind not in ("CON", "END"):
            raise WireError(f"not a USSD reply: {raw!r}")
        return Answer(kind, text)


class Beem(Wire):
    name = "beem"

    def _body(self, call: Call, command: str, response: str) -> dict:
        call.hops += 1
        return {"command": command, "msisdn": _national(call.msisdn), "session_id": call.session_id,
                "operator": "vodacom", "payload": {"request_id": call.round_trip, "response": response}}

    def first(self, call: Call) -> dict:
        call.round_trip = 0
        return self._body(call, "initiate", call.dial)

    def next(self, call: Call, text: str) -> dict:
        return self._body(call, "continue", text)

    def read(self, call: Call, raw: str) -> Answer:
        data = _json(raw)
        payload = data.get("payload") or {}
        if data.get("command") not in ("continue", "terminate") or not isinstance(payload.get("request"), str):
            raise WireError(f"not a Beem reply: {raw!r}")
        if call is not None and data.get("session_id") != call.session_id:
            raise WireError(f"a Beem reply for another session: {raw!r}")
        if call is not None:
            call.round_trip = payload.get("request_id")
        return Answer("END" if data["command"] == "terminate" else "CON", payload["request"])

    def end_notice(self, call: Call) -> dict:
        return self._body(call, "terminate", "")


class Hubtel(Wire):
    name = "hubtel"

    def _body(self, call: Call, kind: str, message: str) -> dict:
        call.hops += 1
        return {"Type": kind, "Message": message, "ServiceCode": call.service_code.strip("*#"), "Operator": "mtn",
                "ClientState": "", "Mobile": _national(call.msisdn), "SessionId": call.session_id,
                "Sequence": str(call.hops), "Platform": "USSD"}

    def first(self, call: Call) -> dict:
        return self._body(call, "Initiation", call.dial)

    def next(self, call: Call, text: str) -> dict:
        return self._body(call, "Response", text)

    def read(self, call: Call, raw: str) -> Answer:
        data = _json(raw)
        if data.get("Type") not in ("Response", "Release") or not isinstance(data.get("Message"), str):
            raise WireError(f"not a Hubtel reply: {raw!r}")
        return Answer("END" if data["Type"] == "Release" else "CON", data["Message"])

    def end_notice(self, call: Call) -> dict:
        return self._body(call, "Release", "")

    def timeout_notice(self, call: Call) -> dict:
        return self._body(call, "Timeout", "")


class Arkesel(Wire):
    name = "arkesel"
    asks_on_repeat = True

    def _body(self, call: Call, new: bool, data: str) -> dict:
        call.hops += 1
        return {"sessionID": call.session_id, "userID": "enerlectra-sim", "newSession": new,
                "msisdn": _national(call.msisdn), "userData": data, "network": "MTN"}

    def first(self, call: Call) -> dict:
        return self._body(call, True, call.dial)

    def next(self, call: Call, text: str) -> dict:
        return self._body(call, False, text)

    def read(self, call: Call, raw: str) -> Answer:
        data = _json(raw)
        if not isinstance(data.get("continueSession"), bool) or not isinstance(data.get("message"), str):
            raise WireError(f"not an Arkesel reply: {raw!r}")
        if call is not None and data.get("sessionID") != call.session_id:
            raise WireError(f"an Arkesel reply for another session: {raw!r}")
        return Answer("CON" if data["continueSession"] else "END", data["message"])


def _json(raw: str) -> dict:
    try:
        data = json.loads(raw)
    except ValueError:
        raise WireError(f"not JSON: {raw[:200]!r}") from None
    if not isinstance(data, dict):
        raise WireError(f"not a JSON object: {raw[:200]!r}")
    return data


# Every Wire written above, by name: a new aggregator's wire is found here without a second list.
WIRES: dict[str, type[Wire]] = {w.name: w for w in Wire.__subclasses__()}


def wire(name: str) -> Wire:
    try:
        return WIRES[name]()
    except KeyError:
        raise ValueError(f"unknown aggregator {name!r} (one of {', '.join(WIRES)})") from None
