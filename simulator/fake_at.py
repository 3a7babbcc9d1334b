"""A fake Africa's Talking SMS API, speaking the wire format of protocols.md section 2.

    POST /version1/messaging   form: username, to (comma-separated), message, from?, bulkSMSMode, enqueue?
      201 application/json {"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: ...", "Recipients": [...]}}
      401 text/plain on a wrong apiKey header; 201 with "InvalidSenderId" and no recipients on an unknown `from`
    Delivery reports are form-POSTed to `report_url` after `report_delay` seconds.

Test and QA controls (not part of AT's API) live under /sim/:
    GET  /sim/inbox/{msisdn}    messages delivered to one number (the handset's SMS inbox)
    GET  /sim/messages          every message accepted
    POST /sim/fail              {"mode": MODE, "count": n}; MODE is http500, http401, invalid_sender,
                                recipient:<statusCode> (e.g. recipient:405) or report:Failed
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from payments.sandboxes.base import Sandbox
from payments.sandboxes.base import running as sandbox_running

COST = {"+260": "ZMW 0.3000", "+255": "TZS 25.0000"}
STATUS_TEXT = {101: "Success", 403: "InvalidPhoneNumber", 405: "InsufficientBalance", 406: "UserInBlacklist",
               500: "InternalServerError"}
_E164 = re.compile(r"^\+\d{6,15}$")


def report_url(base: str, token: str | None) -> str:
    """Our delivery-report webhook as it is set on AT's dashboard: with `?token=` when one is configured
    (AT sends no custom headers)."""
    url = f"{base.rstrip('/')}/sms/africastalking/delivery"
    return f"{url}?{urlencode({'token': token})}" if token else url


@dataclass
class Message:
    id: str
    to: str
    text: str
    sender: str | None


@dataclass
class FakeAT(Sandbox):
    api_key: str = "fake-at-key"
    username: str = "sandbox"
    sender_ids: tuple[str, ...] = ("ENERLECTRA",)
    report_url: str | None = None          # where delivery reports go (our /sms/africastalking/delivery)
    report_delay: float = 0.05
    content_type: str = "application/json"  # exactly this, or the SDK returns a string
    messages: list[Message] = field(default_factory=list)
    requests: int = 0
    peers: set = field(default_factory=set)   # (host, port) of each client connection seen: reuse shows here

    def inbox(self, msisdn: str) -> list[Message]:
        return [m for m in self.messages if m.to == msisdn]

    # -- the API -----------------------------------------------------------------------------

    async def messaging(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        mode = self.failures.pop(0) if self.failures else ""
        if mode == "http500":
            return web.Response(status=500, text="Internal Server Error")
        if request.headers.get("apiKey") != self.api_key or mode == "http401":
            return web.Response(status=401, text="The supplied authentication is invalid")
        form = await request.post()
        to, text, sender = form.get("to", ""), form.get("message", ""), form.get("from") or None
        if form.get("username") != self.username or not to or not text:
            return web.Response(status=400, text="Request is missing required form field")
        if (sender is not None and sender not in self.sender_ids) or mode == "invalid_sender":
            return self._json({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}})
        recipients, sent = [], 0
        for number in [n.strip() for n in to.split(",") if n.strip()]:
            code = 101 if _E164.match(number) else 403
            if mode.startswith("recipient:"):
                code = int(mode.split(":")[1])
            item = {"cost": COST.get(number[:4], "USD 0.0100") if code == 101 else "0", "number": number,
                    "status": STATUS_TEXT.get(code, "Failed"), "statusCode": code,
                    "messageId": "None"}
            if code == 101:
                message = Message(f"ATXid_{uuid.uuid4().hex}", number, text, sender)
                self.messages.append(message)
                item["messageId"] = message.id
                sent += 1
                self._report_later(message, mode)
            recipients.append(item)
        summary = f"Sent to {sent}/{len(recipients)} Total Cost: {COST.get(to[:4], 'USD 0')}"
        return self._json({"SMSMessageData": {"Message": summary, "Recipients": recipients}})

    def _json(self, data: dict) -> web.Response:
        # aiohttp's json_response would add "; charset=utf-8": set the header exactly as AT does.
        return web.Response(status=201, body=json.dumps(data).encode(), headers={"Content-Type": self.content_type})

    def _report_later(self, message: Message, mode: str) -> None:
        if not self.report_url:
            return
        status, reason = ("Failed", "UserIsInactive") if mode == "report:Failed" else ("Success", "")
        self._soon(self.report_delay, lambda: self._report(message, status, reason))

    async def _report(self, message: Message, status: str, reason: str) -> None:
        form = {"id": message.id, "status": status, "phoneNumber": message.to, "networkCode": "64501",
                "retryCount": "0"}
        if reason:
            form["failureReason"] = reason
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with aiohttp.ClientSession() as client:
                async with client.post(self.report_url, data=form, timeout=aiohttp.ClientTimeout(total=5)):
                    pass

    # -- controls ----------------------------------------------------------------------------

    async def get_inbox(self, request: web.Request) -> web.Response:
        msisdn = request.match_info["msisdn"]
        return web.json_response([m.__dict__ for m in self.inbox(msisdn)])

    async def get_messages(self, request: web.Request) -> web.Response:
        return web.json_response([m.__dict__ for m in self.messages])

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/version1/messaging", self.messaging),
                        web.get("/sim/inbox/{msisdn}", self.get_inbox), web.get("/sim/messages", self.get_messages),
                        *self.control_routes()])
        return app


running = sandbox_running
