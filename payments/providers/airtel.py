"""Airtel Money Open API (protocols.md section 5): collections (USSD push) and disbursements.

- token: POST /auth/oauth2/token (JSON client credentials); `expires_in` arrives as a string; cached;
- collection: POST /merchant/v1/payments/ with X-Country / X-Currency, msisdn without country code;
- enquiry: GET /standard/v1/payments/{id} (disbursements: /standard/v1/disbursements/{id}):
  TS success, TF failed, TE expired, TIP in progress, TA ambiguous (enquire again, never resubmit);
- callback: {"transaction": {"id", "message", "status_code", "airtel_money_id"}, "hash"}; when a key is
  configured the hash must match. Which bytes Airtel hashes is unverified (protocols.md): we take
  base64 HMAC-SHA256 over the `transaction` object as compact JSON with sorted keys, and say so.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import aiohttp

from payments.providers.base import (AMBIGUOUS, COLLECTION, FAILED, NOT_FOUND, PENDING, SUCCEEDED,
                                     BadCallback, Callback, ForgedCallback, Order, ProviderError, Status)
from payments.providers.mtn import amount_text

STATUS = {"TS": SUCCEEDED, "TF": FAILED, "TE": FAILED, "TIP": PENDING, "TA": AMBIGUOUS}
# Airtel response codes -> the reason words our SMS know.
REASON = {"DP00800001007": "NOT_ENOUGH_FUNDS", "DP00800001003": "PAYER_LIMIT_REACHED",
          "DP00800001002": "APPROVAL_REJECTED", "DP00800001008": "APPROVAL_REJECTED",
          "DP00800001009": "APPROVAL_REJECTED", "DP00800001024": "EXPIRED", "DP00800001029": "EXPIRED",
          "DP00800001005": "EXPIRED"}
COUNTRY = {"ZMW": "ZM", "TZS": "TZ"}
CALLING_CODE = {"ZM": "260", "TZ": "255"}


def callback_hash(transaction: dict, key: str) -> str:
    message = json.dumps(transaction, separators=(",", ":"), sort_keys=True).encode()
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


class AirtelMoney:
    name = "airtel"
    can_ask = True

    def __init__(self, session: aiohttp.ClientSession, base_url: str, client_id: str, client_secret: str,
                 callback_key: str | None = None, disbursement_pin: str = ""):
        self.http = session
        self.base = base_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.callback_key = callback_key
        self.disbursement_pin = disbursement_pin       # RSA-encrypted by the operator, as Airtel wants it
        self._token: tuple[str, float] | None = None

    async def _bearer(self) -> str:
        if self._token and self._token[1] > time.monotonic() + 10:
            return self._token[0]
        body = {"client_id": self.client_id, "client_secret": self.client_secret,
                "grant_type": "client_credentials"}
        try:
            async with self.http.post(f"{self.base}/auth/oauth2/token", json=body) as resp:
                if resp.status != 200:
                    raise ProviderError(f"airtel token: HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"airtel token: {type(exc).__name__}") from None
        self._token = (data["access_token"], time.monotonic() + int(str(data.get("expires_in", "180"))))
        return self._token[0]

    async def _call(self, method: str, path: str, currency: str, body: dict | None = None) -> tuple[int, dict]:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._bearer()}", "X-Country": COUNTRY[currency],
                       "X-Currency": currency, "Accept": "*/*"}
            try:
                async with self.http.request(method, f"{self.base}{path}", headers=headers, json=body) as resp:
                    if resp.status == 401 and attempt == 1:
                        self._token = None
                        continue
                    text = await resp.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ProviderError(f"airtel {path}: {type(exc).__name__}") from None
            try:
                return resp.status, json.loads(text) if text else {}
            except ValueError:
                return resp.status, {}
        return resp.status, {}

    @staticmethod
    def _local(msisdn: str, currency: str) -> str:
        digits = msisdn.lstrip("+")
        code = CALLING_CODE[COUNTRY[currency]]
        return digits[len(code):] if digits.startswith(code) else digits

    async def submit(self, order: Order) -> Status:
        amount = amount_text(order.amount, order.currency)
        if order.direction == COLLECTION:
            country = COUNTRY[order.currency]
            path, body = "/merchant/v1/payments/", {
                "reference": order.note, "subscriber": {"country": country, "currency": order.currency,
                                                        "msisdn": self._local(order.msisdn, order.currency)},
                "transaction": {"amount": amount, "country": country, "currency": order.currency,
                                "id": order.reference}}
        else:
            path, body = "/standard/v1/disbursements/", {
                "payee": {"msisdn": self._local(order.msisdn, order.currency)}, "reference": order.note,
                "pin": self.disbursement_pin, "transaction": {"amount": amount, "id": order.reference}}
        code, data = await self._call("POST", path, order.currency, body)
        status = data.get("status") or {}
        if code in (408, 502, 504) or code >= 500:
            return Status(AMBIGUOUS, reason=f"HTTP {code}")
        if status.get("result_code") == "ESB000041":          # duplicate id: it arrived before
            return Status(PENDING)
        if code == 200 and status.get("success"):
            return Status(PENDING)
        return Status(FAILED, reason=REASON.get(status.get("response_code"), status.get("response_code")))

    async def status(self, direction: str, reference: str, currency: str = "ZMW") -> Status:
        kind = "payments" if direction == COLLECTION else "disbursements"
        code, data = await self._call("GET", f"/standard/v1/{kind}/{reference}", currency)
        if code == 404 or (data.get("status") or {}).get("result_code") == "ESB000045":
            return Status(NOT_FOUND)
        if code != 200:
            return Status(AMBIGUOUS, reason=f"HTTP {code}")
        txn = (data.get("data") or {}).get("transaction") or {}
        mapped = STATUS.get(str(txn.get("status")), AMBIGUOUS)
        reason = "EXPIRED" if txn.get("status") == "TE" else REASON.get(str(txn.get("message")), None)
        return Status(mapped, reason=reason if mapped == FAILED else None,
                      provider_txn_id=txn.get("airtel_money_id"))

    async def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback:
        try:
            data = json.loads(body)
            txn = data["transaction"]
            reference = str(txn["id"])
        except (ValueError, KeyError, TypeError):
            raise BadCallback("expected JSON with transaction.id") from None
        if self.callback_key and not hmac.compare_digest(str(data.get("hash", "")),
                                                         callback_hash(txn, self.callback_key)):
            raise ForgedCallback("hash does not match")
        return Callback(reference, STATUS.get(str(txn.get("status_code")), AMBIGUOUS))
