"""A payment's states, as the `payments` table stores them; the lifecycle (payments.lifecycle) moves them."""
from __future__ import annotations

STATES = ["created", "submitted", "pending", "ambiguous", "review", "succeeded", "failed", "expired"]
OPEN = ("created", "submitted", "pending", "ambiguous", "review")     # not settled yet
