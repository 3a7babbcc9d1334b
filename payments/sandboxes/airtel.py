"""A fake Airtel Money Open API (protocols.md section 5) for tests, the simulator and `enerlectra serve`.

Token (JSON client credentials, expires_in as a string), collections (USSD push: the phone's owner
approves or declines; `auto` decides alone), disbursements, enquiries with TS/TF/TE/TIP/TA, and a callback
to the URL configured on the "portal" (`callback_url`), hashed when `callback_key` is set.
Controls: GET /sim/pending/{msisdn}; POST /sim/decide {reference, approve, reason?}; POST /sim/fail {mode}
with modes http500, lose_callback, ambiguous (enquiries answer TA once), payout_fail.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from aiohttp import web

from payments.providers.airtel import callback_hash
from payments.sandboxes.base import Sandbox
from payments.sandboxes.base import running as sandbox_running

DECLINE_CODES = {"NOT_ENOUGH_FUNDS": "DP00800001007", "APPROVAL_REJECTED": "DP00800001008",
                 "EXPIRED": "DP00800001024"}


@dataclass
class Txn:
    id: str
    kind: str              # payments / disbursements
    msisdn: str            # without country code
    amount: str
    currency: str = ""
    status: str = "TIP"
    message: str = "In process"
    airtel_money_id: str | None = None


@dataclass
class FakeAirtel(Sandbox):
    client_id: str = "fake-airtel-id"
    client_secret: str = "fake-airtel-secret"
    callback_url: str | None = None
    callback_key: str | None = None
    auto: bool = True
    decide_after: float = 0.05
    txns: dict[str, Txn] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0

    async def token(self, request: web.Request) -> web.Response:
        data = await request.json()
        if (data.get("client_id"), data.get("client_secret"), data.get("grant_type")) != \
                (self.client_id, self.client_secret, "client_credentials"):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.token_requests += 1
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": "180", "token_type": "bearer"})

    def _ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    @staticmethod
    def _reply(txn_id: str, success: bool, result: str, response: str, http: int = 200) -> web.Response:
        return web.json_response({"data": {"transaction": {"id": txn_id, "status": "SUCCESS" if success else
                                                           "FAILED"}},
                                  "status": {"code": str(http), "message": "SUCCESS" if success else "FAILED",
                                             "result_code": result, "response_code": response,
                                             "success": success}}, status=http)

    async def submit(self, request: web.Request) -> web.Response:
        if not self._ok(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        if self._take("http500"):
            return web.Response(status=502, text="Bad Gateway")
        kind = request.match_info["kind"]
        body = await request.json()
        txn_id = str(body["transaction"]["id"])
        self.submits[txn_id] += 1
        if txn_id in self.txns:
            return self._reply(txn_id, False, "ESB000041", "DP00800001006", http=400)
        msisdn = (body.get("subscriber") or body.get("payee") or {}).get("msisdn", "")
        txn = Txn(txn_id, kind, msisdn, str(body["transaction"]["amount"]),
                  str(body["transaction"].get("currency") or request.headers.get("X-Currency", "")))
        self.txns[txn_id] = txn
        if kind == "disbursements":
            self._later(txn, not self._take("payout_fail"), "DP00900001012")
        elif self.auto:
            self._later(txn, True, None)
        return self._reply(txn_id, True, "ESB000010", "DP00800001006")

    async def enquire(self, request: web.Request) -> web.Response:
        if not self._ok(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        txn = self.txns.get(request.match_info["id"])
        if txn is None:
            return web.json_response({"data": {}, "status": {"code": "404", "result_code": "ESB000045",
                                                             "success": False}}, status=404)
        status = "TA" if self._take("ambiguous") else txn.status
        return web.json_response({"data": {"transaction": {"airtel_money_id": txn.airtel_money_id, "id": txn.id,
                                                           "message": txn.message, "status": status}},
                                  "status": {"code": "200", "result_code": "ESB000010", "success": True}})

    def _later(self, txn: Txn, approve: bool, code: str | None) -> None:
        self._soon(self.decide_after, lambda: self.decide(txn.id, approve, code))

    async def decide(self, txn_id: str, approve: bool, reason: str | None = None) -> Txn:
        txn = self.txns[txn_id]
        if txn.status != "TIP":
            return txn
        code = DECLINE_CODES.get(reason or "", reason or "DP00800001008")
        txn.status = "TS" if approve else ("TE" if code == "DP00800001024" else "TF")
        txn.message = "SUCCESS" if approve else code
        txn.airtel_money_id = f"MP{uuid.uuid4().int % 10**12:012d}" if approve else None
        if self.callback_url and not self._take("lose_callback"):
            payload = {"id": txn.id, "message": txn.message, "status_code": "TS" if approve else "TF",
                       "airtel_money_id": txn.airtel_money_id or ""}
            body = {"transaction": payload}
            if self.callback_key:
                body["hash"] = callback_hash(payload, self.callback_key)
            await self.call_back(self.callback_url, body)
        return txn

    async def get_pending(self, request: web.Request) -> web.Response:
        number = request.match_info["msisdn"].lstrip("+")
        return web.json_response([{"reference": t.id, "amount": t.amount, "currency": t.currency,
                                   "message": "Enerlectra"}
                                  for t in self.txns.values()
                                  if t.kind == "payments" and t.status == "TIP" and number.endswith(t.msisdn)])

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.post("/auth/oauth2/token", self.token),
            web.post("/merchant/v1/{kind:payments}/", self.submit),
            web.post("/standard/v1/{kind:disbursements}/", self.submit),
            web.get("/standard/v1/{kind:payments|disbursements}/{id}", self.enquire),
            *self.control_routes(),
        ])
        return app


running = sandbox_running
