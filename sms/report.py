"""`enerlectra sms outbox`: what happened to each message, for operators."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra.db.models import SmsOutbox

COLUMNS = ("id", "to", "kind", "status", "enc", "segs", "tries", "message id", "cost", "reason", "created",
           "text")


async def outbox_rows(db: async_sessionmaker, to: str | None = None, status: str | None = None,
                      limit: int = 20) -> list[tuple[str, ...]]:
    query = select(SmsOutbox).order_by(SmsOutbox.id.desc()).limit(limit)
    if to:
        query = query.where(SmsOutbox.msisdn == to)
    if status:
        query = query.where(SmsOutbox.status == status)
    async with db() as s:
        rows = (await s.scalars(query)).all()
    return [(str(r.id), r.msisdn, r.kind, r.status, r.encoding, str(r.segments), str(r.attempts),
             r.gateway_message_id or "-", r.cost or "-", r.failure_reason or (r.last_error or "-")[:40],
             r.created_at.strftime("%Y-%m-%d %H:%M:%S") if r.created_at else "-", _one_line(r.body))
            for r in rows]


def _one_line(body: str) -> str:
    """The text as stored (no PIN is ever in an outbound SMS; inbound ones are stored masked), on one line."""
    return " ".join((body or "").split())


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(COLUMNS), *(line(r) for r in rows)])
