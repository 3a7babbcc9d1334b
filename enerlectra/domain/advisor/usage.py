"""Usage analytics for the advisor, aggregated in SQL: questions, answers, tokens and cost."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import AdvisorQuestion

COLUMNS = ("topic", "backend", "status", "questions", "in tokens", "out tokens", "cost USD")


async def summary(s: AsyncSession, days: int) -> list[tuple]:
    """One row per (topic, backend, status) over the last `days` days."""
    since = datetime.now(timezone.utc) - timedelta(days=days)
    q = AdvisorQuestion
    rows = (await s.execute(
        select(q.topic, func.coalesce(q.backend, "-"), q.status, func.count(), func.sum(q.input_tokens),
               func.sum(q.output_tokens), func.sum(q.cost_micro_usd))
        .where(q.created_at >= since).group_by(q.topic, q.backend, q.status)
        .order_by(q.topic, q.backend, q.status))).all()
    return [(*r[:4], int(r[4] or 0), int(r[5] or 0), f"{(r[6] or 0) / 1_000_000:.4f}") for r in rows]


def table(rows: list[tuple]) -> str:
    if not rows:
        return "no questions in this period"
    widths = [max(len(str(v)) for v in column) for column in zip(COLUMNS, *rows, strict=False)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) for row in [COLUMNS, *rows]]
    return "\n".join(lines)
