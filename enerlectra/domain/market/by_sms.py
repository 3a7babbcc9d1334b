"""SELL and BUY by SMS: the order waits for `YES <PIN>` (10 minutes), for users who turned PIN-by-SMS on.

Only the newest proposal of a user can be confirmed (a new SELL or BUY replaces the one before), and a
confirmed proposal is placed once, keyed by its id.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.clock import now
from enerlectra.db.models import SmsOrder, User

CONFIRM_WITHIN = timedelta(minutes=10)
OFFER_DAYS = 7                    # an offer made by SMS stays this long


async def propose(s: AsyncSession, user: User, side: str, wh: int, price: int) -> SmsOrder:
    await s.execute(update(SmsOrder).where(SmsOrder.user_id == user.id, SmsOrder.state == "pending")
                    .values(state="replaced"))
    proposal = SmsOrder(user_id=user.id, side=side, wh=wh, price=price, state="pending",
                        expires_at=now() + CONFIRM_WITHIN)
    s.add(proposal)
    await s.flush()
    return proposal


async def waiting(s: AsyncSession, user: User) -> SmsOrder | None:
    """The user's proposal still waiting for YES, if any."""
    return await s.scalar(select(SmsOrder).where(SmsOrder.user_id == user.id, SmsOrder.state == "pending",
                                                 SmsOrder.expires_at > now())
                          .order_by(SmsOrder.id.desc()).limit(1))
