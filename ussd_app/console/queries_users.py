"""The Users pages' SQL: find users by number, and one user's profile (each list newest first and LIMITed)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Cluster, MarketOrder, Membership, PinReset, SmsOutbox, User
from enerlectra.domain import statement, wallet
from enerlectra.domain.money import format_energy, format_money
from enerlectra.domain.pins import aware_utc
from enerlectra.i18n import LANGUAGES, language
from enerlectra.redact import mask_msisdn
from menus.wallet import history as history_lines
from ussd_app.console import paging
from ussd_app.console import queries_payments as q_payments

LIMIT = 50          # rows per list on a profile


async def found(s: AsyncSession, numbers: list[str]) -> list[tuple]:
    """(id, masked number, name, country, language, created) of the users with these numbers."""
    rows = await s.execute(select(User.id, User.msisdn, User.name, User.country, User.language, User.created_at)
                           .where(User.msisdn.in_(numbers)).order_by(User.id))
    return [(i, mask_msisdn(m), name, country, lang, paging.stamp(created))
            for i, m, name, country, lang, created in rows.all()]


@dataclass(frozen=True)
class PinState:
    failures: int
    locked_until: datetime | None        # while the wrong-PIN lock lasts
    hold_until: datetime | None          # while money actions wait after a reset
    reset: str                           # the open reset: requested / issued / "" (none)

    @property
    def may_unlock(self) -> bool:
        return bool(self.failures) or self.locked_until is not None


def _while(when: datetime | None, now: datetime) -> datetime | None:
    when = aware_utc(when)
    return when if when is not None and when > now else None


async def pin_state(s: AsyncSession, user: User, now: datetime) -> PinState:
    reset = await s.scalar(select(PinReset.state).where(PinReset.open_for == user.id))
    return PinState(user.pin_failures, _while(user.pin_locked_until, now), _while(user.pin_reset_hold_until, now),
                    reset or "")


def facts(user: User, balances: wallet.Balances) -> list[tuple[str, str]]:
    return [("Name", user.name), ("Number", user.msisdn), ("Language", LANGUAGES.get(user.language, user.language)),
            ("Country", user.country), ("Registered", paging.stamp(user.created_at)),
            ("News SMS", "off (STOP)" if user.sms_opt_out else "on"),
            ("Money", format_money(balances.money, balances.currency)), ("Energy", format_energy(balances.energy))]


async def history(s: AsyncSession, user: User) -> list[tuple]:
    """The wallet history as the USSD screen labels it (in English): when, what, amount."""
    entries = await statement.entries(s, user.id, user.currency, LIMIT)
    with language("en"):
        return [(paging.stamp(e.when), history_lines.label(e), history_lines.amount(e)) for e in entries]


async def sms(s: AsyncSession, user: User) -> list[tuple]:
    rows = await s.execute(select(SmsOutbox.created_at, SmsOutbox.kind, SmsOutbox.status, SmsOutbox.segments,
                                  SmsOutbox.body).where(SmsOutbox.msisdn == user.msisdn)
                           .order_by(SmsOutbox.id.desc()).limit(LIMIT))
    return [(paging.stamp(when), kind, status, segments, body) for when, kind, status, segments, body in rows.all()]


async def payments(s: AsyncSession, user: User) -> list[tuple]:
    return await q_payments.listed(s, q_payments.Filters(user_id=user.id), paging.Page(1, LIMIT))


async def orders(s: AsyncSession, user: User) -> list[tuple]:
    rows = await s.execute(select(MarketOrder.created_at, MarketOrder.side, MarketOrder.price, MarketOrder.wh,
                                  MarketOrder.remaining_wh, MarketOrder.state, MarketOrder.expires_at,
                                  MarketOrder.currency)
                           .where(MarketOrder.user_id == user.id).order_by(MarketOrder.id.desc()).limit(LIMIT))
    return [(paging.stamp(created), side, format_money(price, currency) + "/kWh", format_energy(wh),
             format_energy(remaining), state, paging.stamp(expires))
            for created, side, price, wh, remaining, state, expires, currency in rows.all()]


async def clusters(s: AsyncSession, user: User) -> list[tuple]:
    rows = await s.execute(select(Cluster.code, Cluster.name, Membership.role, Membership.status,
                                  Membership.contributed, Cluster.currency, Membership.joined_at)
                           .join(Cluster, Cluster.id == Membership.cluster_id)
                           .where(Membership.user_id == user.id).order_by(Membership.id.desc()).limit(LIMIT))
    return [(code, name, role, status, format_money(contributed, currency), paging.stamp(joined))
            for code, name, role, status, contributed, currency, joined in rows.all()]
