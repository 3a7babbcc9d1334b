"""A fake pawaPay v2 API (protocols.md section 9): deposits and payouts for Zamtel and Tanzania.

Bearer token check, ACCEPTED / REJECTED / DUPLICATE_IGNORED, FOUND / NOT_FOUND status, callbacks of the
`data` object to `callback_url`. Controls as the other sandboxes: GET /sim/pending/{msisdn},
POST /sim/decide {reference, approve, reason?},
POST /sim/fail {mode: http500 | http500_after | lose_callback | payout_fail}.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from payments.sandboxes.base import Sandbox
from payments.sandboxes.base import running as sandbox_running

DECLINES = {"NOT_ENOUGH_FUNDS": "INSUFFICIENT_BALANCE", "APPROVAL_REJECTED": "PAYMENT_NOT_APPROVED",
            "EXPIRED": "PAYMENT_NOT_APPROVED"}


@dataclass
class Txn:
    id: str
    kind: str                  # deposits / payouts
    body: dict
    status: str = "ACCEPTED"
    failure: str | None = None

    @property
    def phone(self) -> str:
        party = self.body.get("payer") or self.body.get("recipient") or {}
        return (party.get("accountDetails") or {}).get("phoneNumber", "")

    def data(self) -> dict:
        out = {"depositId" if self.kind == "deposits" else "payoutId": self.id, "status": self.status,
               "amount": self.body.get("amount"), "currency": self.body.get("currency")}
        if self.failure:
            out["failureReason"] = {"failureCode": self.failure, "failureMessage": self.failure.lower()}
        if self.status == "COMPLETED":
            out["providerTransactionId"] = f"PP{abs(hash(self.id)) % 10**10}"
        return out


@dataclass
class FakePawaPay(Sandbox):
    token: str = "fake-pawapay-token"
    callback_url: str | None = None
    auto: bool = True
    decide_after: float = 0.05
    txns: dict[str, Txn] = field(default_factory=dict)

    def _ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def submit(self, request: web.Request) -> web.Response:
        if not self._ok(request):
            return web.json_response({"errorMessage": "unauthorized"}, status=401)
        if self._take("http500"):
            return web.json_response({"status": "REJECTED", "failureReason": {"failureCode": "UNKNOWN_ERROR"}},
                                     status=500)
        kind = request.match_info["kind"]
        body = await request.json()
        txn_id = str(body.get("depositId") or body.get("payoutId"))
        self.submits[txn_id] += 1
        if txn_id in self.txns:
            return web.json_response({"depositId" if kind == "deposits" else "payoutId": txn_id,
                                      "status": "DUPLICATE_IGNORED"})
        txn = Txn(txn_id, kind, body, status="ACCEPTED" if kind == "deposits" else "ENQUEUED")
        self.txns[txn_id] = txn
        if kind == "payouts":
            self._later(txn, not self._take("payout_fail"), "RECIPIENT_NOT_FOUND")
        elif self.auto:
            self._later(txn, True, None)
        if self._take("http500_after"):     # processed, but the answer is lost
            return web.json_response({"failureReason": {"failureCode": "UNKNOWN_ERROR"}}, status=500)
        return web.json_response({"depositId" if kind == "deposits" else "payoutId": txn_id, "status": txn.status})

    async def get_status(self, request: web.Request) -> web.Response:
        if not self._ok(request):
            return web.json_response({"errorMessage": "unauthorized"}, status=401)
        txn = self.txns.get(request.match_info["id"])
        if txn is None:
            return web.json_response({"status": "NOT_FOUND"})
        return web.json_response({"status": "FOUND", "data": txn.data()})

    def _later(self, txn: Txn, approve: bool, failure: str | None) -> None:
        self._soon(self.decide_after, lambda: self.decide(txn.id, approve, failure))

    async def decide(self, txn_id: str, approve: bool, reason: str | None = None) -> Txn:
        txn = self.txns[txn_id]
        if txn.status in ("COMPLETED", "FAILED"):
            return txn
        txn.status = "COMPLETED" if approve else "FAILED"
        txn.failure = None if approve else DECLINES.get(reason or "", reason or "PAYMENT_NOT_APPROVED")
        if self.callback_url and not self._take("lose_callback"):
            await self.call_back(self.callback_url, txn.data())
        return txn

    async def get_pending(self, request: web.Request) -> web.Response:
        phone = request.match_info["msisdn"].lstrip("+")
        return web.json_response([{"reference": t.id, "amount": t.body.get("amount"),
                                   "currency": t.body.get("currency"), "message": t.body.get("customerMessage")}
                                  for t in self.txns.values()
                                  if t.kind == "deposits" and t.status == "ACCEPTED" and t.phone == phone])

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.post("/v2/{kind:deposits|payouts}", self.submit),
            web.get("/v2/{kind:deposits|payouts}/{id}", self.get_status),
            *self.control_routes(),
        ])
        return app


running = sandbox_running
