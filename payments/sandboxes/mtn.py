"""A fake MTN MoMo Open API (protocols.md section 4) for tests, the simulator and `enerlectra serve`.

Speaks: POST /{collection|disbursement}/token/ (Basic; 411 without Content-Length), POST requesttopay /
transfer (Bearer, X-Reference-Id, 202, 409 RESOURCE_ALREADY_EXIST on a repeat), GET status (404
RESOURCE_NOT_FOUND), callbacks to X-Callback-Url without referenceId. Sandbox payer numbers
46733123450..63 end as the docs say; any other number waits for a decision: the handset's "approve
payment?" prompt (/sim/pending, /sim/decide), or `auto` after `decide_after` seconds.

Controls: GET /sim/pending/{msisdn}; POST /sim/decide {reference, approve, reason?};
POST /sim/fail {mode: http500 | http500_after | lose_callback | duplicate_callback | status_500 |
payout_fail, count}.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from payments.sandboxes.base import Sandbox
from payments.sandboxes.base import running as sandbox_running

SANDBOX = {  # payer number -> (final status, reason); None: stays pending (Delayed)
    "46733123450": ("FAILED", "INTERNAL_PROCESSING_ERROR"), "46733123451": ("FAILED", "APPROVAL_REJECTED"),
    "46733123452": ("FAILED", "EXPIRED"), "46733123453": ("SUCCESSFUL", None), "46733123454": None,
    "46733123455": ("FAILED", "PAYER_NOT_FOUND"), "46733123456": ("FAILED", "PAYEE_NOT_ALLOWED_TO_RECEIVE"),
    "46733123457": ("FAILED", "NOT_ALLOWED"), "46733123458": ("FAILED", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "46733123459": ("FAILED", "INVALID_CALLBACK_URL_HOST"), "46733123460": ("FAILED", "INVALID_CURRENCY"),
    "46733123461": ("FAILED", "INTERNAL_PROCESSING_ERROR"), "46733123462": ("FAILED", "SERVICE_UNAVAILABLE"),
    "46733123463": ("FAILED", "COULD_NOT_PERFORM_TRANSACTION"),
}


@dataclass
class Txn:
    reference: str
    product: str            # collection / disbursement
    body: dict
    callback_url: str | None
    status: str = "PENDING"
    reason: str | None = None
    txn_id: str | None = None

    @property
    def party(self) -> str:
        return (self.body.get("payer") or self.body.get("payee") or {}).get("partyId", "")


@dataclass
class FakeMtn(Sandbox):
    api_user: str = "fake-mtn-user"
    api_key: str = "fake-mtn-key"
    subscription_key: str = "fake-mtn-subscription"
    auto: bool = True                   # decide on its own after `decide_after` (tests); False: wait (QA)
    decide_after: float = 0.05
    answer_after: float = 0.0           # a slow provider: seconds before a submit is answered (fault tests)
    payouts_succeed: bool = True
    txns: dict[str, Txn] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    callbacks_sent: int = 0
    status_requests: int = 0           # status queries asked of us (the rate-limit tests count them)

    # -- the API ---------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        if request.headers.get("Content-Length") is None:
            return web.Response(status=411, text="Length Required")
        expected = base64.b64encode(f"{self.api_user}:{self.api_key}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}" or \
                request.headers.get("Ocp-Apim-Subscription-Key") != self.subscription_key:
            return web.json_response({"error": "login_failed"}, status=401)
        self.token_requests += 1
        token = f"eyJ.fake.{uuid.uuid4().hex}"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "access_token", "expires_in": 3600})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    async def submit(self, request: web.Request) -> web.Response:
        product = request.match_info["product"]
        if not self._authorized(request):
            return web.json_response({"code": "401", "message": "Access denied due to invalid token"}, status=401)
        if self._take("http500"):
            return web.json_response({"code": "INTERNAL_PROCESSING_ERROR"}, status=500)
        await asyncio.sleep(self.answer_after)
        reference = request.headers.get("X-Reference-Id", "")
        self.submits[reference] += 1
        try:
            uuid.UUID(reference)
            body = await request.json()
        except ValueError:
            return web.json_response({"code": "INVALID_REFERENCE_ID"}, status=400)
        if reference in self.txns:
            return web.json_response({"code": "RESOURCE_ALREADY_EXIST", "message": "Duplicated reference id"},
                                     status=409)
        txn = Txn(reference, product, body, request.headers.get("X-Callback-Url"))
        self.txns[reference] = txn
        outcome = SANDBOX.get(txn.party, "unknown")
        if outcome is None:
            pass                                        # "Delayed": stays pending
        elif outcome != "unknown":
            self._later(txn, *outcome)
        elif product == "disbursement":
            ok = self.payouts_succeed and not self._take("payout_fail")
            self._later(txn, "SUCCESSFUL" if ok else "FAILED", None if ok else "PAYEE_NOT_FOUND")
        elif self.auto:
            self._later(txn, "SUCCESSFUL", None)
        if self._take("http500_after"):     # processed, but the answer is lost: the caller cannot know
            return web.json_response({"code": "INTERNAL_PROCESSING_ERROR"}, status=500)
        return web.Response(status=202)

    async def status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"code": "401"}, status=401)
        self.status_requests += 1
        if self._take("status_500"):
            return web.json_response({"code": "INTERNAL_PROCESSING_ERROR"}, status=500)
        txn = self.txns.get(request.match_info["reference"])
        if txn is None:
            return web.json_response({"code": "RESOURCE_NOT_FOUND", "message": "Requested resource was not found."},
                                     status=404)
        return web.json_response(self._view(txn))

    def _view(self, txn: Txn) -> dict:
        data = {**txn.body, "status": txn.status}
        if txn.txn_id:
            data["financialTransactionId"] = txn.txn_id
        if txn.reason:
            data["reason"] = {"code": txn.reason, "message": txn.reason.replace("_", " ").lower()}
        return data

    # -- outcomes and callbacks ------------------------------------------------------------------

    def _later(self, txn: Txn, status: str, reason: str | None) -> None:
        self._soon(self.decide_after, lambda: self.decide(txn.reference, status == "SUCCESSFUL", reason))

    async def decide(self, reference: str, approve: bool, reason: str | None = None) -> Txn:
        txn = self.txns[reference]
        if txn.status != "PENDING":
            return txn
        txn.status = "SUCCESSFUL" if approve else "FAILED"
        txn.reason = None if approve else (reason or "APPROVAL_REJECTED")
        txn.txn_id = str(uuid.uuid4().int)[:10] if approve else None
        if txn.callback_url and not self._take("lose_callback"):
            copies = 2 if self._take("duplicate_callback") else 1
            for _ in range(copies):
                await self._callback(txn)
        return txn

    async def _callback(self, txn: Txn) -> None:
        body = {k: v for k, v in self._view(txn).items() if k != "financialTransactionId"}
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with aiohttp.ClientSession() as client:
                async with client.post(txn.callback_url, data=json.dumps(body),
                                       headers={"Content-Type": "application/json; charset=utf-8"},
                                       timeout=aiohttp.ClientTimeout(total=5)):
                    self.callbacks_sent += 1

    # -- controls --------------------------------------------------------------------------------

    async def get_pending(self, request: web.Request) -> web.Response:
        party = request.match_info["msisdn"].lstrip("+")
        return web.json_response([{"reference": t.reference, "amount": t.body.get("amount"),
                                   "currency": t.body.get("currency"), "message": t.body.get("payerMessage")}
                                  for t in self.txns.values()
                                  if t.party == party and t.status == "PENDING" and t.product == "collection"])

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.post("/{product:collection|disbursement}/token/", self.token),
            web.post("/{product:collection}/v1_0/requesttopay", self.submit),
            web.post("/{product:disbursement}/v1_0/transfer", self.submit),
            web.get("/{product:collection}/v1_0/requesttopay/{reference}", self.status),
            web.get("/{product:disbursement}/v1_0/transfer/{reference}", self.status),
            *self.control_routes(),
        ])
        return app


running = sandbox_running
