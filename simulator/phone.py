"""A feature phone on a USSD session, as its aggregator reports it to us (the transport's `wire`:
Africa's Talking by default, or Beem, Hubtel, Arkesel; simulator/wire.py).

AT sends every input of the session joined with '*' in `text`; a new session starts with "", and a dial string
such as *123*4# opens it with its extra parts already in `text`. The others send the latest input, and the
dial string itself on the first hop.
"""
from __future__ import annotations

import asyncio

from simulator.transport import HttpTransport, Reply


# Network codes by national prefix (protocols.md sections 1 and 7); 99999 is AT's sandbox.
class Phone:
    def __init__(self, transport: HttpTransport, msisdn: str, service_code: str = "*123#"):
        self.transport = transport
        self.msisdn = msisdn
        self.service_code = service_code
        self.session_id: str | None = None
        self.inputs: list[str] = []
        self.call = None                  # simulator.wire.Call: the session as the aggregator keeps it
        self.sent: dict | None = None     # the last hop's body (a retry sends it again)
        self.last: Reply | None = None
        self.sms_seen = 0                 # inbox messages already shown or checked

    @property
    def in_session(self) -> bool:
        return self.session_id is not None

    def shortcut_text(self, code: str) -> str:
        """*123*4*1# dialled against service *123# -> "4*1"; the plain service code -> ""."""
        base = self.service_code.rstrip("#")
        code = code.strip()
        if code == self.service_code:
            return ""
        if code.startswith(base + "*") and code.endswith("#"):
            return code[len(base) + 1:-1]
        raise ValueError(f"{code} is not {self.service_code} or a shortcut like {base}*1#")

    async def dial(self, code: str | None = None) -> Reply:
        dialled = (code or self.service_code).strip()
        extra = self.shortcut_text(dialled)
        self.call = self.transport.wire.new_call(self.msisdn, self.service_code, dialled, extra)
        self.session_id = self.call.session_id
        self.inputs = [extra] if extra else []
        return await self._post(self.transport.wire.first(self.call))

    async def send(self, text: str) -> Reply:
        if not self.in_session:
            raise RuntimeError("dial first")
        self.inputs.append(text)
        return await self._post(self.transport.wire.next(self.call, text))

    async def resend(self) -> Reply:
        """The aggregator retrying the same hop (the same body again)."""
        if self.sent is None:
            raise RuntimeError("dial first")
        return await self._post(self.sent)

    async def sms(self, text: str) -> None:
        """Send an SMS from this phone to our short code."""
        await self.transport.send_sms(self.msisdn, text)

    async def new_sms(self, wait: float = 0.0) -> list[dict]:
        """Messages that arrived since the last call (waiting up to `wait` seconds for the first)."""
        loops = max(1, int(wait / 0.1))
        for attempt in range(loops):
            if attempt:
                await self.transport.settle()      # a provider's callback may have queued an SMS meanwhile
            inbox = await self.transport.inbox(self.msisdn)
            if len(inbox) > self.sms_seen or attempt == loops - 1:
                fresh, self.sms_seen = inbox[self.sms_seen:], len(inbox)
                return fresh
            await asyncio.sleep(0.1)
        return []

    async def sms_showing(self, fragments: tuple[str, ...], wait: float) -> list[dict]:
        """The new messages up to the one that completes `fragments` (later ones stay new for the next look),
        waiting up to `wait` seconds; without fragments, like `new_sms`. On time-out, everything new."""
        if not fragments:
            return await self.new_sms(wait)
        loops = max(1, int(wait / 0.1))
        for attempt in range(loops):
            if attempt:
                await self.transport.settle()
            fresh = (await self.transport.inbox(self.msisdn))[self.sms_seen:]
            for upto in range(1, len(fresh) + 1):
                shown = "\n".join(m["text"] for m in fresh[:upto])
                if all(frag in shown for frag in fragments):
                    self.sms_seen += upto
                    return fresh[:upto]
            if attempt < loops - 1:
                await asyncio.sleep(0.1)
        self.sms_seen += len(fresh)
        return fresh

    def hangup(self) -> None:
        self.session_id, self.inputs, self.call = None, [], None

    async def _post(self, body: dict) -> Reply:
        self.sent = body
        reply = await self.transport.post(body, self.call)
        self.last = reply
        if reply.ended:
            self.session_id, self.inputs = None, []
        return reply
