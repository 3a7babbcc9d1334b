"""Hubtel (Ghana) Programmable Services: JSON in and out (protocols.md section 11).

In: {"Type": "initiation"|"response"|"release"|"timeout", "Message": "*713*20#" (first hop: the dial string;
then the latest input), "ServiceCode": "713*20", "Operator": "mtn", "ClientState": "", "Mobile": "233246912184",
"SessionId": "8d44...", "Sequence": "1", "Platform": "USSD"}; `Type` compared case-insensitively.
Out: {"Type": "Response"|"Release", "Message": "text", "ClientState": ""} (Response continues, Release ends).

`Sequence` is Hubtel's own hop number: the hop id. The dial string's extra parts are a shortcut (against
USSD_HUBTEL_SERVICE_CODES, else the `ServiceCode` it names). `release` and `timeout` are end-of-session notices.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from enerlectra.domain.phone import parse_msisdn
from enerlectra.ussd.types import UssdReply
from ussd_app.adapters.bounds import Field, Rejected
from ussd_app.aggregators.contract import Aggregator, Hop, Notice, get

TYPES = ("initiation", "response", "release", "timeout")


class Hubtel(Aggregator):
    name = "hubtel"
    fields = {"Type": Field(20, required=True), "Mobile": Field(32, required=True),
              "SessionId": Field(100, required=True), "Message": Field(1000), "ServiceCode": Field(40),
              "Operator": Field(40), "ClientState": Field(1000), "Sequence": Field(10, integer=(0, 1_000_000)),
              "Platform": Field(20)}

    def parse(self, body: dict[str, Any]) -> Hop | Notice:
        kind = get(body, "Type").lower()
        if kind not in TYPES:
            raise Rejected("bad_value", f"Type must be one of {', '.join(TYPES)}")
        sid = self.session_id(get(body, "SessionId"))
        number = parse_msisdn(get(body, "Mobile"))
        operator, code = get(body, "Operator").lower()[:10], get(body, "ServiceCode")
        if kind in ("release", "timeout"):
            return Notice(sid, "Timeout" if kind == "timeout" else "Ended", msisdn=number.e164,
                          service_code=code, network_code=operator)
        sequence = get(body, "Sequence", required=True)
        message = get(body, "Message", as_typed=True)
        is_new = kind == "initiation"
        return Hop(session_id=sid, msisdn=number.e164, country=number.country,
                   text=self._dialled(message, code) if is_new else message, service_code=code,
                   network_code=operator, hop_id=f"s{sequence}", is_new=is_new, path_rule=self.path_rule,
                   aggregator=self.name)

    def _dialled(self, message: str, code: str) -> str:
        """The shortcut in a first hop's dial string, against our codes or else the one Hubtel names."""
        parts = self.shortcut(message)
        if not parts and code:
            base = "*" + code.strip("*#")
            if message.startswith(base + "*") and message.endswith("#"):
                return message[len(base) + 1:-1]
        return parts

    def render(self, reply: UssdReply, body: dict[str, Any]) -> web.Response:
        return web.json_response({"Type": "Release" if reply.end else "Response", "Message": reply.text,
                                  "ClientState": ""})

    def acknowledge(self, notice: Notice, body: dict[str, Any]) -> web.Response:
        return web.json_response({"Type": "Release", "Message": "", "ClientState": ""})
