"""MTN MoMo Open API (protocols.md section 4): collections (request to pay) and disbursements.

- tokens: POST /{product}/token/ with Basic api user:key and an empty body (Content-Length: 0), cached
  for their lifetime; a 401 on a call drops the cached token and retries once;
- submit: POST .../requesttopay or .../transfer with our reference as X-Reference-Id: 202 accepted,
  409 RESOURCE_ALREADY_EXIST means it arrived before (same reference: never a new one);
- status: GET .../{reference}; PENDING and CREATED are pending, 404 may mean "not visible yet";
- callbacks (POST or PUT, maybe twice, unsigned, no referenceId): `externalId` is our reference.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import aiohttp

from payments.providers.base import (AMBIGUOUS, COLLECTION, FAILED, NOT_FOUND, PENDING, SUCCEEDED,
                                     BadCallback, Callback, Order, ProviderError, Status)

PRODUCT = {COLLECTION: "collection", "payout": "disbursement"}
PATH = {COLLECTION: "requesttopay", "payout": "transfer"}
STATUS = {"PENDING": PENDING, "CREATED": PENDING, "SUCCESSFUL": SUCCEEDED, "FAILED": FAILED}


def amount_text(minor: int, currency: str) -> str:
    """MTN wants a string of the major unit: 2550 ngwee -> "25.50" (no float on the way)."""
    whole, cents = divmod(minor, 100)
    return f"{whole}.{cents:02d}" if cents else str(whole)


def reason_code(raw) -> str | None:
    """`reason` arrives as a string or as {code, message}."""
    if isinstance(raw, dict):
        return raw.get("code")
    return raw or None


@dataclass
class _Token:
    value: str
    expires: float


class MtnMomo:
    name = "mtn"
    can_ask = True

    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_user: str, api_key: str,
                 subscription_key: str, target_env: str, callback_url: str | None):
        self.http = session
        self.base = base_url.rstrip("/")
        self.basic = base64.b64encode(f"{api_user}:{api_key}".encode()).decode()
        self.subscription_key = subscription_key
        self.target_env = target_env
        self.callback_url = callback_url
        self._tokens: dict[str, _Token] = {}

    async def _token(self, product: str) -> str:
        cached = self._tokens.get(product)
        if cached and cached.expires > time.monotonic() + 30:
            return cached.value
        headers = {"Authorization": f"Basic {self.basic}", "Ocp-Apim-Subscription-Key": self.subscription_key,
                   "Content-Length": "0"}
        try:
            async with self.http.post(f"{self.base}/{product}/token/", headers=headers, data=b"") as resp:
                if resp.status != 200:
                    raise ProviderError(f"mtn token: HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"mtn token: {type(exc).__name__}") from None
        self._tokens[product] = _Token(data["access_token"], time.monotonic() + int(data.get("expires_in", 3600)))
        return data["access_token"]

    async def _call(self, method: str, product: str, path: str, *, headers=None, body=None):
        for attempt in (1, 2):
            token = await self._token(product)
            all_headers = {"Authorization": f"Bearer {token}", "X-Target-Environment": self.target_env,
                           "Ocp-Apim-Subscription-Key": self.subscription_key, **(headers or {})}
            try:
                async with self.http.request(method, f"{self.base}/{product}/v1_0/{path}", headers=all_headers,
                                             json=body) as resp:
                    text = await resp.text()
                    if resp.status == 401 and attempt == 1:
                        self._tokens.pop(product, None)     # expired or revoked: a fresh token, once
                        continue
                    return resp.status, text
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ProviderError(f"mtn {path}: {type(exc).__name__}") from None
        return resp.status, text

    async def submit(self, order: Order) -> Status:
        party = {"partyIdType": "MSISDN", "partyId": order.msisdn.lstrip("+")}
        body = {"amount": amount_text(order.amount, order.currency), "currency": order.currency,
                "externalId": order.reference, "payerMessage": order.note, "payeeNote": order.note,
                "payer" if order.direction == COLLECTION else "payee": party}
        headers = {"X-Reference-Id": order.reference}
        if self.callback_url:
            headers["X-Callback-Url"] = self.callback_url     # no header, no callback
        status, text = await self._call("POST", PRODUCT[order.direction], PATH[order.direction],
                                        headers=headers, body=body)
        if status in (202, 409):        # accepted, or accepted before (same X-Reference-Id)
            return Status(PENDING)
        if status >= 500 or status in (408, 429):
            return Status(AMBIGUOUS, reason=f"HTTP {status}")
        return Status(FAILED, reason=_code(text) or f"HTTP {status}")

    async def status(self, direction: str, reference: str, currency: str = "") -> Status:
        code, text = await self._call("GET", PRODUCT[direction], f"{PATH[direction]}/{reference}")
        if code == 404:
            return Status(NOT_FOUND)
        if code != 200:
            return Status(AMBIGUOUS, reason=f"HTTP {code}")
        data = json.loads(text)
        return Status(STATUS.get(str(data.get("status")), AMBIGUOUS), reason=reason_code(data.get("reason")),
                      provider_txn_id=data.get("financialTransactionId"))

    async def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback:
        try:
            data = json.loads(body)
            reference = str(data["externalId"])
        except (ValueError, KeyError, TypeError):
            raise BadCallback("expected JSON with externalId") from None
        return Callback(reference, STATUS.get(str(data.get("status")), AMBIGUOUS))


def _code(text: str) -> str | None:
    try:
        return json.loads(text).get("code")
    except (ValueError, AttributeError):
        return None
