"""The audit log: who changed what, when, and the before/after, written in the transaction that makes the change
(so there is never a change without its row, nor a row for a change that rolled back)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who acts: an operator of the console (their id and email), or the command line."""
    email: str
    operator_id: int | None = None


CLI = Actor("cli")


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def record(session: AsyncSession, actor: Actor, action: str, target: str = "", *,
           before: Any = None, after: Any = None) -> None:
    """Add the row to `session`'s transaction. `action`: noun.verb (payment.resolve, pin.unlock ...);
    `target`: kind:key (payment:ZM-123, user:42)."""
    session.add(AuditEntry(operator_id=actor.operator_id, actor=actor.email[:120], action=action[:40],
                           target=target[:80], before=_json(before), after=_json(after)))
