"""Market jobs: expire offers and bids past their time (escrow back to the owner, who is told by SMS)."""
from __future__ import annotations

import logging

from sqlalchemy import select

from enerlectra.db.models import Market
from enerlectra.domain.market import book, texts
from workers import runtime

log = logging.getLogger(__name__)


def expire_orders() -> int:
    return runtime.run(_expire)


async def _expire(db) -> int:
    async with db() as s:
        currencies = (await s.scalars(select(Market.currency))).all()
    told = 0                                         # one SMS per expired order
    for currency in currencies:                      # one transaction per market: its lock, briefly
        async with db() as s, s.begin():
            items = await book.expire_due(s, currency, texts.messages())
        runtime.send_sms(items)
        told += len(items)
    if told:
        log.info("expired %d market order(s)", told)
    return told
