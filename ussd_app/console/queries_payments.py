"""The Payments page's SQL: the filtered list, stuck payments, and today's reconciliation counts (GROUP BY)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Payment
from enerlectra.domain.money import format_money
from enerlectra.domain.payment_states import STATES
from enerlectra.redact import mask_msisdn
from ussd_app.console.paging import Page, stamp

PROVIDERS = ("mtn", "airtel", "pawapay", "azampay")
DIRECTIONS = ("collection", "payout")
CURRENCIES = ("ZMW", "TZS")
LIST_COLUMNS = ["created", "reference", "provider", "direction", "number", "amount", "fee", "state", "reason",
                "user"]
STUCK_STATES = ("submitted", "pending")       # past PAYMENT_EXPIRE_MINUTES: the reconciliation job is late


@dataclass(frozen=True)
class Filters:
    provider: str = ""
    state: str = ""
    direction: str = ""
    currency: str = ""
    user_id: int | None = None            # one user's (their profile)

    def where(self) -> list:
        wanted = {Payment.provider: self.provider, Payment.state: self.state, Payment.direction: self.direction,
                  Payment.currency: self.currency, Payment.user_id: self.user_id}
        return [column == value for column, value in wanted.items() if value]


ALLOWED = {"provider": PROVIDERS, "state": STATES, "direction": DIRECTIONS, "currency": CURRENCIES}


def _row(p) -> tuple:
    return (stamp(p.created_at), p.reference, p.provider, p.direction, mask_msisdn(p.msisdn),
            format_money(p.amount, p.currency), format_money(p.fee, p.currency), p.state, p.reason or "", p.user_id)


_LISTED = (Payment.created_at, Payment.reference, Payment.provider, Payment.direction, Payment.msisdn,
           Payment.amount, Payment.fee, Payment.currency, Payment.state, Payment.reason, Payment.user_id)


async def listed(s: AsyncSession, filters: Filters, page: Page) -> list[tuple]:
    """Newest first, one page."""
    rows = await s.execute(select(*_LISTED).where(*filters.where()).order_by(Payment.id.desc())
                           .limit(page.size).offset(page.offset))
    return [_row(p) for p in rows.all()]


async def stuck(s: AsyncSession, now: datetime, expire_minutes: int, limit: int = 200) -> list[tuple]:
    """Ambiguous ones, and submitted/pending ones older than PAYMENT_EXPIRE_MINUTES, oldest first."""
    old = now - timedelta(minutes=expire_minutes)
    rows = await s.execute(select(*_LISTED).where(or_(
        Payment.state == "ambiguous", and_(Payment.state.in_(STUCK_STATES), Payment.created_at < old)))
        .order_by(Payment.id).limit(limit))
    return [_row(p) for p in rows.all()]


async def today_by_state(s: AsyncSession, now: datetime) -> list[tuple]:
    """Today's (UTC) payments counted by provider, direction, currency and state, with the money they name."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await s.execute(
        select(Payment.provider, Payment.direction, Payment.currency, Payment.state, func.count(),
               func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.created_at >= start)
        .group_by(Payment.provider, Payment.direction, Payment.currency, Payment.state)
        .order_by(Payment.provider, Payment.direction, Payment.currency, Payment.state))
    return [(provider, direction, currency, state, count, format_money(int(total), currency))
            for provider, direction, currency, state, count, total in rows.all()]
