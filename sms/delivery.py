"""Delivery reports: a table from the aggregator's status to ours; a final state is never undone."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra.db.models import SmsOutbox
from enerlectra.domain.outbox import now

# Africa's Talking report status -> our outbox status (protocols.md section 2; * final there).
AT_REPORT_STATUS: dict[str, str] = {
    "Sent": "sent", "Submitted": "sent", "Buffered": "sent", "AbsentSubscriber": "sent",
    "Success": "delivered", "Rejected": "failed", "Failed": "failed", "Expired": "failed",
}
FINAL = {"delivered", "failed"}
NOTED = {"AbsentSubscriber", "Expired"}      # worth keeping as the reason though AT gives none


@dataclass(frozen=True)
class Report:
    message_id: str
    status: str
    failure_reason: str = ""


async def apply_report(db: async_sessionmaker, report: Report) -> str:
    """Record one report. Returns what happened: updated, unchanged, unknown-message, unknown-status."""
    ours = AT_REPORT_STATUS.get(report.status)
    async with db() as s, s.begin():
        row = await s.scalar(select(SmsOutbox).where(SmsOutbox.gateway_message_id == report.message_id)
                             .with_for_update())
        if row is None:
            return "unknown-message"
        if ours is None:
            row.last_error = f"unknown delivery status {report.status!r}"[:200]
            return "unknown-status"
        note = report.failure_reason or (report.status if report.status in NOTED else "")
        if row.status in FINAL or (ours == row.status and not note):
            return "unchanged"
        row.status = ours
        if note:
            row.failure_reason = note[:64]
        if ours == "delivered":
            row.delivered_at = now()
        return "updated"
