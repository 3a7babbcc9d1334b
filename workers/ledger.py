"""Ledger job: write the chain's head down outside the database (enerlectra/domain/ledger_anchors.py)."""
from __future__ import annotations

import logging

from enerlectra.domain import ledger, ledger_anchors
from workers import runtime

log = logging.getLogger(__name__)


def anchor_ledger() -> str:
    return runtime.run(_anchor)


async def _anchor(db) -> str:
    async with db() as s:
        try:
            anchor = await ledger.head_anchor(s)
        except ledger.LedgerError as exc:          # the head does not check out: verify says where, loudly
            log.error("ledger anchor not written: %s", exc)
            return f"not written: {exc}"
    ledger_anchors.record(runtime.settings().home, anchor)
    return str(anchor)
