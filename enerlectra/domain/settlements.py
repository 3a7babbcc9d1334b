"""What the domain does when a payment it started settles, by the payment's purpose ("proposal:<id>").

Payments settles money and then calls the listener of the payment's purpose in the same transaction;
it knows this table, not the features behind it.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from enerlectra.domain.clusters import proposals

LISTENERS: dict[str, Callable[..., Awaitable[list]]] = {
    "proposal": proposals.payout_settled,      # a cluster's pool paying a supplier
}
