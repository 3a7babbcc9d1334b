"""The conformance tables, one module per USSD aggregator (tests/test_aggregator_conformance.py runs them).

A table names the aggregator's wire (simulator/wire.py builds its bodies the way the aggregator sends them), the
cases it supports, and its own bad bodies. A new aggregator = its adapter module + one table here.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from simulator.wire import Call, Wire

# The cases every table runs (a table may leave out one its aggregator cannot have, saying why).
CASES = ("new_session", "continue", "repeated_key", "star_inside_input", "shortcut", "retransmit_money_hop",
         "retransmit_mid_session", "end_notice", "timeout_notice", "malformed_body", "wrong_token", "unicode_input",
         "session_lost")


@dataclass(frozen=True)
class Malformed:
    label: str
    body: Any                  # bytes: sent as is; dict: as JSON (or a form for AT)
    says: str                  # a word the one-line 400 carries
    content_type: str = "application/json"


@dataclass(frozen=True)
class Table:
    wire: type[Wire]
    malformed: tuple[Malformed, ...]
    skipped: dict[str, str] = field(default_factory=dict)     # case -> why this aggregator cannot have it
    notice_path: str | None = None                            # where its end notices go (None: its USSD URL)
    after_lost_session: str = "timed out"                     # what a hop after Redis lost the session gets

    @property
    def name(self) -> str:
        return self.wire.name

    @property
    def asks_on_repeat(self) -> bool:
        """Our own hop ids: a repeated pick within the retry window is asked about first."""
        return self.wire.asks_on_repeat

    def end_notice(self, call: Call) -> dict | None:
        return self.wire().end_notice(call)

    def timeout_notice(self, call: Call) -> dict | None:
        return self.wire().timeout_notice(call)


def tables() -> dict[str, Table]:
    """Every table module in this package, by aggregator name (a new module is found, no list to keep)."""
    found = [importlib.import_module(f"{__name__}.{m.name}").TABLE for m in pkgutil.iter_modules(__path__)]
    return {table.name: table for table in found}
