"""The SMS page's SQL: the outbox (filtered, newest first, paged) and the price a segment cost lately."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Numeric, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import SmsOutbox
from enerlectra.redact import mask_msisdn
from ussd_app.console.paging import Page, stamp

STATUSES = ("queued", "sending", "sent", "delivered", "failed", "suppressed")
COLUMNS = ["created", "number", "kind", "status", "segments", "cost", "reason", "text"]
PRICED = ("sent", "delivered")        # rows the gateway billed


@dataclass(frozen=True)
class Filters:
    status: str = ""
    kind: str = ""
    numbers: tuple[str, ...] = ()     # E.164; empty: any

    def where(self) -> list:
        found = []
        if self.status:
            found.append(SmsOutbox.status == self.status)
        if self.kind:
            found.append(SmsOutbox.kind == self.kind)
        if self.numbers:
            found.append(SmsOutbox.msisdn.in_(self.numbers))
        return found


async def listed(s: AsyncSession, filters: Filters, page: Page) -> list[tuple]:
    rows = await s.execute(select(SmsOutbox.created_at, SmsOutbox.msisdn, SmsOutbox.kind, SmsOutbox.status,
                                  SmsOutbox.segments, SmsOutbox.cost, SmsOutbox.failure_reason, SmsOutbox.body)
                           .where(*filters.where()).order_by(SmsOutbox.id.desc())
                           .limit(page.size).offset(page.offset))
    return [(stamp(created), mask_msisdn(msisdn), kind, status, segments, cost or "", reason or "", body)
            for created, msisdn, kind, status, segments, cost, reason, body in rows.all()]


async def kinds(s: AsyncSession) -> list[str]:
    return list((await s.scalars(select(SmsOutbox.kind).distinct().order_by(SmsOutbox.kind))).all())


async def segment_prices(s: AsyncSession, since: datetime) -> dict[str, Decimal]:
    """Currency -> what a segment cost on average since `since`, from the costs the gateway reported
    ("ZMW 0.3000": the currency, a space, the amount)."""
    currency = func.substr(SmsOutbox.cost, 1, 3)
    amount = cast(func.substr(SmsOutbox.cost, 5), Numeric(18, 6))
    rows = await s.execute(select(currency, func.sum(amount), func.sum(SmsOutbox.segments))
                           .where(SmsOutbox.created_at >= since, SmsOutbox.status.in_(PRICED),
                                  SmsOutbox.cost.like("___ %"), SmsOutbox.segments > 0)
                           .group_by(currency))
    return {cur: Decimal(str(total)) / segs for cur, total, segs in rows.all() if segs and total is not None}
