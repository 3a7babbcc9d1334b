"""A fake AzamPay (protocols.md sections 6 and 9): authenticator, MNO checkout, public key, signed callbacks.

One server plays both hosts (AZAMPAY_AUTH_URL and AZAMPAY_BASE_URL may point at it). It holds an RSA key
made at start; callbacks carry `signature` = base64 RSA-SHA256 (PKCS#1 v1.5) over utilityref +
externalreference + transactionstatus + operator, and GET /azampay/v1/public-key?format=Pem serves the key.
Wrong credentials: 423; a missing or stale Bearer: 401 {"message": "Please Provide Valid Authorization"}.
Controls: GET /sim/pending/{msisdn}; POST /sim/decide {reference, approve, reason?}; POST /sim/fail {mode}
with modes http500, http500_after (processed, answer lost), lose_callback, unsigned (a callback without a
signature), forged (signed with another key), twice (the callback delivered twice), wrong_amount, no_key
(the public-key endpoint answers 503).
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from payments.providers.azampay import signed_text
from payments.sandboxes.base import Sandbox
from payments.sandboxes.base import running as sandbox_running

PROVIDERS = {"Airtel", "Tigo", "Halopesa", "Azampesa", "Mpesa"}
# What the operator's message says on a decline (AzamPay passes the MNO's words through; not a fixed list).
DECLINES = {"NOT_ENOUGH_FUNDS": "Insufficient balance", "APPROVAL_REJECTED": "Transaction declined by user",
            "EXPIRED": "Transaction timed out"}


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Txn:
    id: str                   # our externalId
    body: dict
    transaction_id: str
    status: str = "pending"   # pending / success / failure
    message: str = ""


@dataclass
class FakeAzamPay(Sandbox):
    app_name: str = "enerlectra-sandbox"
    client_id: str = "fake-azampay-client"
    client_secret: str = "fake-azampay-secret"
    callback_url: str | None = None
    auto: bool = True
    decide_after: float = 0.05
    txns: dict[str, Txn] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    key_requests: int = 0
    # Made at first use, not at construction: `serve` plans this sandbox at start-up, and a 2048-bit key
    # costs 20-300 ms of CPU (70 ms typical) before the first hop, for a sandbox most runs never call.
    key: rsa.RSAPrivateKey | None = None
    callbacks: list[dict] = field(default_factory=list)        # every callback body sent, for tests

    def private_key(self) -> rsa.RSAPrivateKey:
        if self.key is None:
            self.key = _new_key()
        return self.key

    @property
    def public_pem(self) -> str:
        return self.private_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, data: dict, key: rsa.RSAPrivateKey | None = None) -> str:
        raw = (key or self.private_key()).sign(signed_text(data), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()

    # -- the API -----------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        data = await request.json()
        if (data.get("appName"), data.get("clientId"), data.get("clientSecret")) != \
                (self.app_name, self.client_id, self.client_secret):
            return web.json_response({"data": None, "message": "Provided detail is not valid for this app or "
                                      "secret key has been expired", "success": False, "statusCode": 423},
                                     status=423)
        self.token_requests += 1
        token = uuid.uuid4().hex
        self.tokens.add(token)
        expire = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
        return web.json_response({"data": {"accessToken": token, "expire": expire},
                                  "message": "Token generated successfully", "success": True, "statusCode": 200})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    async def checkout(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Please Provide Valid Authorization", "status": "Error"},
                                     status=401)
        if self._take("http500"):
            return web.json_response({"message": "Internal server error"}, status=500)
        body = await request.json()
        problem = _invalid(body)
        if problem:
            return web.json_response({"success": False, "message": problem}, status=400)
        if self._take("refused_insufficient"):      # the network refuses at once, in its own words
            return web.json_response({"success": False, "message": "Insufficient balance"})
        txn = self.txns.get(body["externalId"])
        if txn is None:
            txn = Txn(body["externalId"], body, uuid.uuid4().hex)
            self.txns[txn.id] = txn
            if self.auto:
                self._soon(self.decide_after, lambda: self.decide(txn.id, True))
        if self._take("http500_after"):
            return web.json_response({"message": "Internal server error"}, status=500)
        return web.json_response({"success": True, "transactionId": txn.transaction_id,
                                  "message": "Your request has been received and is being processed."})

    async def public_key(self, request: web.Request) -> web.Response:
        self.key_requests += 1
        if self._take("no_key"):
            return web.json_response({"message": "Service unavailable"}, status=503)
        return web.Response(text=self.public_pem, content_type="application/x-pem-file")

    # -- the phone's owner, and the callback -----------------------------------------------------------

    async def decide(self, reference: str, approve: bool, reason: str | None = None) -> Txn:
        txn = self.txns[reference]
        if txn.status != "pending":
            return txn
        txn.status = "success" if approve else "failure"
        txn.message = "Transaction successful" if approve else DECLINES.get(reason or "", "Transaction failed")
        if self.callback_url and not self._take("lose_callback"):
            body = self.callback_body(txn)
            for _ in range(2 if self._take("twice") else 1):
                await self._deliver(body)
        return txn

    def callback_body(self, txn: Txn) -> dict:
        amount = txn.body["amount"]
        if self._take("wrong_amount"):
            amount = str(int(amount) + 1)
        body = {"msisdn": txn.body["accountNumber"], "amount": amount, "message": txn.message,
                "utilityref": txn.id, "operator": txn.body["provider"], "reference": txn.transaction_id,
                "transactionstatus": txn.status, "submerchantAcc": None, "additionalProperties": {},
                "externalreference": txn.id, "transid": txn.transaction_id,
                "mnoreference": f"MNO{abs(hash(txn.id)) % 10**10}"}
        if self._take("forged"):
            body["signature"] = self.sign(body, _new_key())
        elif not self._take("unsigned"):
            body["signature"] = self.sign(body)
        return body

    async def _deliver(self, body: dict) -> None:
        self.callbacks.append(body)
        await self.call_back(self.callback_url, body)

    async def get_pending(self, request: web.Request) -> web.Response:
        phone = request.match_info["msisdn"].lstrip("+")
        return web.json_response([{"reference": t.id, "amount": t.body["amount"], "currency": t.body["currency"],
                                   "message": f"Pay {t.body['amount']} {t.body['currency']} via {t.body['provider']}"}
                                  for t in self.txns.values()
                                  if t.status == "pending" and t.body["accountNumber"] == phone])

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.post("/AppRegistration/GenerateToken", self.token),
            web.post("/azampay/mno/checkout", self.checkout),
            web.get("/azampay/v1/public-key", self.public_key),
            *self.control_routes(),
        ])
        return app


def _invalid(body: dict) -> str | None:
    """The checkout body's problems, as a 400 would name them."""
    if body.get("provider") not in PROVIDERS:
        return "Invalid provider"
    if not str(body.get("amount", "")).isdigit() or int(body["amount"]) <= 0:
        return "Invalid amount"
    if body.get("currency") != "TZS":
        return "Invalid currency"
    if not body.get("externalId") or len(str(body["externalId"])) > 128:
        return "Invalid externalId"
    if not str(body.get("accountNumber", "")).startswith("255"):
        return "Invalid accountNumber"
    return None


running = sandbox_running
