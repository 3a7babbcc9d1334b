"""What the advisor may know about a user: facts that ground an answer, and nothing that identifies them.

No name, no phone number, no memo (memos can hold names): country, currency, balances, recent
activity by kind and amount, and open mobile-money payments. The market and clusters add their facts
here when they land (see FACTS below); until then the prompt says there are none.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.lifecycle import OPEN
from ussd_app.db.models import Payment, User
from ussd_app.domain import ledger, wallet
from ussd_app.domain.money import format_energy, format_money

COUNTRY_NAMES = {"ZM": "Zambia", "TZ": "Tanzania"}
RECENT = 5


@dataclass(frozen=True)
class UserFacts:
    country: str
    currency: str
    money: str
    energy: str
    recent: tuple[str, ...] = ()
    open_payments: int = 0
    extra: tuple[str, ...] = field(default=())   # market price, trades, clusters: when those features exist

    def lines(self) -> list[str]:
        out = [f"Country: {COUNTRY_NAMES.get(self.country, self.country)}; currency {self.currency}.",
               f"Wallet balance: {self.money}. Energy credits: {self.energy}."]
        out.append("Recent activity (newest first): " + "; ".join(self.recent) + "." if self.recent
                   else "Recent activity: none yet.")
        if self.open_payments:
            out.append(f"Mobile-money payments still pending: {self.open_payments}.")
        out += list(self.extra) or ["Energy market: no trades or price data yet. Clusters: not a member of any."]
        return out


async def facts(db: AsyncSession, user: User) -> UserFacts:
    bal = await wallet.balances(db, user.id, user.currency)
    codes = [ledger.user_code(user.id, user.currency), ledger.user_code(user.id, ledger.ENERGY)]
    recent = []
    for line in await ledger.history(db, codes, limit=RECENT):
        amount = format_energy(abs(line.amount)) if line.asset == ledger.ENERGY \
            else format_money(abs(line.amount), line.asset)
        when = line.when.strftime("%d %b") if line.when else ""
        recent.append(f"{when} {line.kind} {'-' if line.amount < 0 else '+'}{amount}".strip())
    pending = await db.scalar(select(func.count()).select_from(Payment)
                              .where(Payment.user_id == user.id, Payment.state.in_(OPEN)))
    return UserFacts(user.country, user.currency, format_money(bal.money, bal.currency), format_energy(bal.energy),
                     tuple(recent), int(pending or 0))
