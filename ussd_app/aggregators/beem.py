"""Beem Africa (Tanzania): JSON in and out (protocols.md section 11).

In: {"command": "initiate"|"continue"|"terminate", "msisdn": "255762089337", "session_id": "4574",
"operator": "vodacom" (some send "Operator"), "payload": {"request_id": 0, "response": "1"}}.
Out: {"msisdn", "operator", "session_id", "command": "continue"|"terminate",
"payload": {"request_id": N, "request": "menu text"}}.

`payload.response` is the latest input only (a '*' inside it is part of that one input). `request_id` is ours,
and it is the hop id (a retry of a hop carries the same one). We answer an `initiate` with a call nonce: a
random number times 1000 plus 1, so two calls Beem numbers with the same session_id (a counter wrapping, a
restart) have different hop ids and so different money keys; every later hop we answer with its request_id
+ 1 (wrapping within 0..2^31-1, the range we accept). A `continue` must carry request_id (a 400 without).
Stateless: a retried `initiate` may get another nonce, but only the reply that reaches Beem is continued.
There is no dialled-code field: an `initiate` whose response is a dial string of ours is a shortcut.
A `terminate` is the end-of-session notice.
"""
from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from enerlectra.domain.phone import parse_msisdn
from enerlectra.ussd.types import UssdReply
from ussd_app.adapters.bounds import Field, Rejected
from ussd_app.aggregators.contract import Aggregator, Hop, Notice, get

COMMANDS = ("initiate", "continue", "terminate")
MAX_REQUEST_ID = 2**31 - 1
HOPS_PER_NONCE = 1000          # a session has at most a few hundred hops (its TTL and the hop rate limit)


class Beem(Aggregator):
    name = "beem"
    fields = {"command": Field(20, required=True), "msisdn": Field(32, required=True),
              "session_id": Field(100, required=True), "operator": Field(40), "Operator": Field(40),
              "payload.request_id": Field(20, integer=(0, MAX_REQUEST_ID)), "payload.response": Field(1000)}

    def parse(self, body: dict[str, Any]) -> Hop | Notice:
        command = get(body, "command").lower()
        if command not in COMMANDS:
            raise Rejected("bad_value", f"command must be one of {', '.join(COMMANDS)}")
        sid = self.session_id(get(body, "session_id"))
        operator = (get(body, "operator") or get(body, "Operator")).lower()[:10]
        number = parse_msisdn(get(body, "msisdn"))
        if command == "terminate":
            return Notice(sid, "Ended", msisdn=number.e164, network_code=operator)
        response = get(body, "payload.response", as_typed=True)
        is_new = command == "initiate"
        request_id = get(body, "payload.request_id", required=not is_new) or "0"
        return Hop(session_id=sid, msisdn=number.e164, country=number.country,
                   text=self.shortcut(response) if is_new else response, network_code=operator,
                   hop_id=f"r{request_id}", is_new=is_new, path_rule=self.path_rule, aggregator=self.name)

    def render(self, reply: UssdReply, body: dict[str, Any]) -> web.Response:
        request_id = next_request_id(get(body, "command").lower(), int(get(body, "payload.request_id") or 0))
        return web.json_response({
            "msisdn": get(body, "msisdn"), "operator": get(body, "operator") or get(body, "Operator"),
            "session_id": get(body, "session_id"), "command": "terminate" if reply.end else "continue",
            "payload": {"request_id": request_id, "request": reply.text}})

    def acknowledge(self, notice: Notice, body: dict[str, Any]) -> web.Response:
        return web.json_response({"msisdn": get(body, "msisdn"), "session_id": get(body, "session_id"),
                                  "command": "terminate", "payload": {"request_id": 0, "request": ""}})


def next_request_id(command: str, received: int) -> int:
    """The request_id we answer with: a new call nonce on `initiate`, else the one received + 1 (wrapping)."""
    if command == "initiate":
        return secrets.randbelow(MAX_REQUEST_ID // HOPS_PER_NONCE) * HOPS_PER_NONCE + 1
    return (received + 1) % (MAX_REQUEST_ID + 1)
