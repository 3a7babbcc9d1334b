"""What every mobile-money provider offers: ask, ask again (status), and read its callbacks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PENDING, SUCCEEDED, FAILED, AMBIGUOUS, NOT_FOUND = "pending", "succeeded", "failed", "ambiguous", "not_found"
COLLECTION, PAYOUT = "collection", "payout"


@dataclass(frozen=True)
class Order:
    reference: str          # ours, a UUID: the provider's idempotency key (X-Reference-Id)
    direction: str          # collection / payout
    msisdn: str             # E.164
    currency: str
    amount: int             # minor units, what the provider moves
    network: str = ""       # routing.Network.name (mtn, vodacom, ...): some providers want it named
    note: str = "Enerlectra"


@dataclass(frozen=True)
class Status:
    status: str                     # one of PENDING .. NOT_FOUND
    reason: str | None = None       # the provider's own code, for the record
    provider_txn_id: str | None = None


@dataclass(frozen=True)
class Callback:
    reference: str                  # which payment it is about (ours)
    claimed: str                    # what the callback says; only a prompt to ask for the status...
    verified: bool = False          # ...unless the provider signed it and the signature checked out
    reason: str | None = None       # with a verified claim: what a status query would have told
    provider_txn_id: str | None = None
    amount: int | None = None       # minor units, when the callback says (checked against ours)


class ProviderError(Exception):
    """The provider could not be asked (network, 5xx): the outcome is unknown, ask again later."""


class BadCallback(ValueError):
    """A callback we cannot read: a 400."""


class ForgedCallback(BadCallback):
    """A callback whose hash or signature does not check out: a 403, and nothing changes."""


class Provider(Protocol):
    name: str
    can_ask: bool           # answers status queries (False: only a signed callback or an operator settles)

    async def submit(self, order: Order) -> Status: ...

    async def status(self, direction: str, reference: str, currency: str) -> Status: ...

    async def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback: ...


# Plain words for the SMS when a payment does not go through, by the provider's reason.
PLAIN_REASON = {
    "NOT_ENOUGH_FUNDS": "not enough funds", "PAYER_LIMIT_REACHED": "over your wallet limit",
    "APPROVAL_REJECTED": "declined", "PAYMENT_NOT_APPROVED": "declined", "TRANSACTION_CANCELED": "declined",
    "EXPIRED": "timed out", "PAYER_NOT_FOUND": "no wallet on that number",
    "PAYEE_NOT_FOUND": "no wallet on that number",
}
