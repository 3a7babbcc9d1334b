"""AzamPay MNO checkout (protocols.md sections 6 and 9): deposits from Tanzanian wallets, in TZS.

- token: POST {auth}/AppRegistration/GenerateToken {appName, clientId, clientSecret} ->
  {"data": {"accessToken", "expire"}, "success": true}; bad credentials are a 423. Cached until `expire`
  (its format is not documented: an ISO time or seconds; otherwise five minutes); a 401 drops it, once;
- checkout: POST {base}/azampay/mno/checkout, Bearer (+ X-API-Key when given), {accountNumber, amount
  (whole shillings, a string), currency, externalId (our reference), provider (Airtel | Tigo | Halopesa |
  Azampesa | Mpesa), additionalProperties} -> {"success": true, "transactionId", "message"};
- no status query is documented: `can_ask` is False. A callback is trusted only when its `signature` (RSA
  SHA-256 over utilityref + externalreference + transactionstatus + operator, base64) verifies against
  AzamPay's public key (AZAMPAY_PUBLIC_KEY, or fetched from GET {base}/azampay/v1/public-key?format=Pem);
  an unsigned callback, or one we cannot check, leaves the payment for review; a bad signature is refused.
- payouts are not offered here (AzamPay's disbursement needs a checksum key and field list: section 9).
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from payments.providers.base import (AMBIGUOUS, COLLECTION, FAILED, PENDING, SUCCEEDED, BadCallback, Callback,
                                     ForgedCallback, Order, ProviderError, Status)

# Our network names (payments.routing) -> AzamPay's provider names.
OPERATORS = {"airtel": "Airtel", "yas": "Tigo", "halotel": "Halopesa", "vodacom": "Mpesa"}
STATUS = {"success": SUCCEEDED, "successful": SUCCEEDED, "failure": FAILED, "failed": FAILED, "fail": FAILED}
TOKEN_FALLBACK_SECONDS = 300
# A failed checkout's callback carries the network's own words in `message`, not a code (undocumented
# vocabulary): the words we recognise give the user a plain reason; anything else, the generic line.
MESSAGE_REASONS = (("insufficient", "NOT_ENOUGH_FUNDS"), ("balance", "NOT_ENOUGH_FUNDS"),
                   ("timed out", "EXPIRED"), ("timeout", "EXPIRED"), ("expired", "EXPIRED"),
                   ("declin", "APPROVAL_REJECTED"), ("cancel", "APPROVAL_REJECTED"),
                   ("reject", "APPROVAL_REJECTED"))


def reason_from_message(message) -> str | None:
    text = str(message or "").lower()
    return next((reason for words, reason in MESSAGE_REASONS if words in text), None)


def amount_text(minor: int) -> str | None:
    """Whole shillings as a string; None when the amount has cents (AzamPay moves whole TZS)."""
    whole, cents = divmod(minor, 100)
    return None if cents else str(whole)


def signed_text(data: dict) -> bytes:
    return "".join(str(data.get(k) or "") for k in ("utilityref", "externalreference", "transactionstatus",
                                                    "operator")).encode()


def expires_in(raw, now: float | None = None) -> float:
    """Seconds a token lives, from `expire` as AzamPay sends it (undocumented: ISO time or seconds)."""
    if isinstance(raw, (int, float)) and raw > 0:
        return float(raw)
    if isinstance(raw, str):
        try:
            at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return TOKEN_FALLBACK_SECONDS
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        return max(0.0, at.timestamp() - (now if now is not None else time.time()))
    return TOKEN_FALLBACK_SECONDS


MAX_AMOUNT = Decimal(10**12)        # TZS: far above any payment limit


def _minor(raw) -> int | None:
    """The callback's amount (TZS as text) in minor units; None when it is not an amount at all, including
    "Infinity" and "1e9999999" (int() of those raised, a 500 the provider retries)."""
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    # Compared, not abs(): abs() rounds to the context and raises Overflow on 1e9999999.
    return int(value * 100) if value.is_finite() and -MAX_AMOUNT <= value <= MAX_AMOUNT else None


def _pem_in(text: str) -> str | None:
    """The PEM in the public-key endpoint's answer: plain PEM, or JSON carrying it (undocumented)."""
    if "BEGIN PUBLIC KEY" in text and not text.lstrip().startswith("{"):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "BEGIN PUBLIC KEY" in item:
            return item
        if isinstance(item, dict):
            stack.extend(item.values())
    return None


class AzamPay:
    name = "azampay"
    can_ask = False

    def __init__(self, session: aiohttp.ClientSession, auth_url: str, base_url: str, app_name: str,
                 client_id: str, client_secret: str, api_key: str = "", public_key_pem: str = ""):
        self.http = session
        self.auth = auth_url.rstrip("/")
        self.base = base_url.rstrip("/")
        self.credentials = {"appName": app_name, "clientId": client_id, "clientSecret": client_secret}
        self.api_key = api_key
        self._token: tuple[str, float] | None = None
        self._key: rsa.RSAPublicKey | None = self._load(public_key_pem) if public_key_pem else None

    # -- tokens ------------------------------------------------------------------------------------

    async def _bearer(self) -> str:
        if self._token and self._token[1] > time.monotonic() + 30:
            return self._token[0]
        try:
            async with self.http.post(f"{self.auth}/AppRegistration/GenerateToken", json=self.credentials) as resp:
                data = await resp.json(content_type=None) if resp.status == 200 else {}
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"azampay token: {type(exc).__name__}") from None
        token = (data.get("data") or {}).get("accessToken") if isinstance(data, dict) else None
        if not token:
            raise ProviderError(f"azampay token: HTTP {status}")      # 423: the credentials are wrong
        self._token = (token, time.monotonic() + expires_in((data.get("data") or {}).get("expire")))
        return token

    async def _post(self, path: str, body: dict) -> tuple[int, dict]:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._bearer()}"}
            if self.api_key:
                headers["X-API-Key"] = self.api_key
            try:
                async with self.http.post(f"{self.base}{path}", json=body, headers=headers) as resp:
                    text, status = await resp.text(), resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ProviderError(f"azampay {path}: {type(exc).__name__}") from None
            if status == 401 and attempt == 1:
                self._token = None                        # revoked or expired early: one fresh token
                continue
            try:
                data = json.loads(text) if text else {}
            except ValueError:
                data = {}
            return status, data if isinstance(data, dict) else {}
        raise AssertionError("unreachable")

    # -- the Provider interface ----------------------------------------------------------------------

    async def submit(self, order: Order) -> Status:
        if order.direction != COLLECTION:
            return Status(FAILED, reason="NOT_OFFERED")
        operator, amount = OPERATORS.get(order.network), amount_text(order.amount)
        if operator is None:
            return Status(FAILED, reason="UNSUPPORTED_NUMBER")
        if amount is None:
            return Status(FAILED, reason="INVALID_AMOUNT")
        body = {"accountNumber": order.msisdn.lstrip("+"), "amount": amount, "currency": order.currency,
                "externalId": order.reference, "provider": operator, "additionalProperties": {}}
        status, data = await self._post("/azampay/mno/checkout", body)
        if status >= 500 or status in (408, 429):
            return Status(AMBIGUOUS, reason=f"HTTP {status}")
        if status == 200 and data.get("success"):
            return Status(PENDING, provider_txn_id=data.get("transactionId"))
        # A refusal at once carries the network's words too ("Insufficient balance"): the user hears why.
        return Status(FAILED, reason=reason_from_message(data.get("message")) or f"HTTP {status}")

    async def status(self, direction: str, reference: str, currency: str = "") -> Status:
        return Status(PENDING, reason="NO_STATUS_QUERY")            # nothing to ask: see can_ask

    async def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback:
        try:
            data = json.loads(body)
            reference = str(data["utilityref"])
        except (ValueError, KeyError, TypeError):
            raise BadCallback("expected JSON with utilityref") from None
        claimed = STATUS.get(str(data.get("transactionstatus", "")).lower(), AMBIGUOUS)
        signature = data.get("signature")
        verified = bool(signature) and await self._verify(signed_text(data), str(signature))
        return Callback(reference, claimed, verified=verified, provider_txn_id=data.get("reference"),
                        amount=_minor(data.get("amount")),
                        reason=reason_from_message(data.get("message")) if claimed == FAILED else None)

    # -- signatures ----------------------------------------------------------------------------------

    async def _verify(self, text: bytes, signature: str) -> bool:
        """True when it verifies; False when we cannot check (no key); ForgedCallback when it is wrong."""
        key = self._key or await self._fetch_key()
        if key is None:
            return False
        try:
            key.verify(base64.b64decode(signature, validate=True), text, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError):
            raise ForgedCallback("signature does not verify") from None
        return True

    async def _fetch_key(self) -> rsa.RSAPublicKey | None:
        try:
            async with self.http.get(f"{self.base}/azampay/v1/public-key", params={"format": "Pem"},
                                     headers={"Authorization": f"Bearer {await self._bearer()}"}) as resp:
                text = await resp.text() if resp.status == 200 else ""
        except (aiohttp.ClientError, TimeoutError, ProviderError):
            return None
        pem = _pem_in(text)
        self._key = self._load(pem) if pem else None
        return self._key

    @staticmethod
    def _load(pem: str) -> rsa.RSAPublicKey | None:
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except ValueError:
            return None
        return key if isinstance(key, rsa.RSAPublicKey) else None
