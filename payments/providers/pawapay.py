"""pawaPay (protocols.md section 9): Zamtel Kwacha in Zambia and every Tanzanian network, one API.

- static Bearer token (PAWAPAY_TOKEN); JSON everywhere;
- deposits: POST /v2/deposits {depositId (our reference, idempotent), amount (string, the provider's
  decimals: ZMW 2, TZS 0), currency, payer: {type: MMO, accountDetails: {phoneNumber, provider}},
  customerMessage (4-22 chars)} -> ACCEPTED | REJECTED | DUPLICATE_IGNORED (= arrived before);
- payouts: POST /v2/payouts {payoutId, ..., recipient: {...}} (adds ENQUEUED);
- status: GET /v2/{deposits|payouts}/{id} -> {"status": FOUND|NOT_FOUND, "data": {status, failureReason}};
  ACCEPTED/ENQUEUED/PROCESSING/IN_RECONCILIATION pending, COMPLETED, FAILED; UNKNOWN_ERROR is not a failure;
- callback: the `data` object (depositId or payoutId, status COMPLETED|FAILED), retried until 200.
"""
from __future__ import annotations

import json

import aiohttp

from payments.providers.base import (AMBIGUOUS, COLLECTION, FAILED, NOT_FOUND, PENDING, SUCCEEDED,
                                     BadCallback, Callback, Order, ProviderError, Status)
from payments.routing import Network, network

# Network (payments.routing) -> pawaPay provider code and how many decimals it takes.
PROVIDERS = {
    Network("ZM", "mtn"): ("MTN_MOMO_ZMB", 2), Network("ZM", "airtel"): ("AIRTEL_OAPI_ZMB", 2),
    Network("ZM", "zamtel"): ("ZAMTEL_ZMB", 2), Network("TZ", "vodacom"): ("VODACOM_TZA", 0),
    Network("TZ", "yas"): ("TIGO_TZA", 0), Network("TZ", "halotel"): ("HALOTEL_TZA", 0),
    Network("TZ", "airtel"): ("AIRTEL_TZA", 0),
}
STATUS = {"ACCEPTED": PENDING, "ENQUEUED": PENDING, "PROCESSING": PENDING, "IN_RECONCILIATION": PENDING,
          "COMPLETED": SUCCEEDED, "FAILED": FAILED}
REASON = {"INSUFFICIENT_BALANCE": "NOT_ENOUGH_FUNDS", "PAYMENT_NOT_APPROVED": "APPROVAL_REJECTED",
          "PAYER_NOT_FOUND": "PAYER_NOT_FOUND", "RECIPIENT_NOT_FOUND": "PAYEE_NOT_FOUND"}
KIND = {COLLECTION: ("deposits", "depositId", "payer"), "payout": ("payouts", "payoutId", "recipient")}


class AmountNotPayable(ValueError):
    """An amount the provider cannot express (TZS cents on a 0-decimal network)."""


def amount_text(minor: int, decimals: int) -> str:
    whole, cents = divmod(minor, 100)
    if decimals == 0:
        if cents:
            raise AmountNotPayable("whole shillings only")
        return str(whole)
    return f"{whole}.{cents:02d}" if cents else str(whole)


def provider_code(msisdn: str) -> tuple[str, int] | None:
    found = network(msisdn)
    return PROVIDERS.get(found) if found else None


def _reason(data: dict) -> str | None:
    failure = data.get("failureReason") or {}
    code = failure.get("failureCode") if isinstance(failure, dict) else str(failure)
    return REASON.get(code, code)


class PawaPay:
    name = "pawapay"
    can_ask = True

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str):
        self.http = session
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}

    async def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        try:
            async with self.http.request(method, f"{self.base}{path}", headers=self.headers, json=body) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"pawapay {path}: {type(exc).__name__}") from None
        try:
            return resp.status, json.loads(text) if text else {}
        except ValueError:
            return resp.status, {}

    async def submit(self, order: Order) -> Status:
        found = provider_code(order.msisdn)
        if found is None:
            return Status(FAILED, reason="UNSUPPORTED_NUMBER")
        code, decimals = found
        try:
            amount = amount_text(order.amount, decimals)
        except AmountNotPayable:
            return Status(FAILED, reason="INVALID_AMOUNT")
        path, id_field, party = KIND[order.direction]
        body = {id_field: order.reference, "amount": amount, "currency": order.currency,
                party: {"type": "MMO", "accountDetails": {"phoneNumber": order.msisdn.lstrip("+"), "provider": code}}}
        if order.direction == COLLECTION:
            body["customerMessage"] = order.note[:22].ljust(4, ".")
        status, data = await self._call("POST", f"/v2/{path}", body)
        if status >= 500 or status in (408, 429):
            return Status(AMBIGUOUS, reason=f"HTTP {status}")
        answer = data.get("status")
        if status == 200 and answer in ("ACCEPTED", "DUPLICATE_IGNORED", "ENQUEUED"):
            return Status(PENDING)
        return Status(FAILED, reason=_reason(data) or f"HTTP {status}")

    async def status(self, direction: str, reference: str, currency: str = "") -> Status:
        path = KIND[direction][0]
        code, data = await self._call("GET", f"/v2/{path}/{reference}")
        if code == 404 or data.get("status") == "NOT_FOUND":
            return Status(NOT_FOUND)
        if code != 200:
            return Status(AMBIGUOUS, reason=f"HTTP {code}")
        inner = data.get("data") or {}
        mapped = STATUS.get(str(inner.get("status")), AMBIGUOUS)
        return Status(mapped, reason=_reason(inner) if mapped == FAILED else None,
                      provider_txn_id=inner.get("providerTransactionId"))

    async def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback:
        try:
            data = json.loads(body)
            reference = str(data.get("depositId") or data["payoutId"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BadCallback("expected JSON with depositId or payoutId") from None
        return Callback(reference, STATUS.get(str(data.get("status")), AMBIGUOUS))
