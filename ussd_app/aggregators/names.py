"""The aggregators' names alone: the CLI's `--aggregator` choices without importing the adapters (and with
them the whole app: most of `serve`'s cold start). registry.py refuses to load when the two lists differ."""
from __future__ import annotations

NAMES = ("africastalking", "beem", "hubtel", "arkesel")
