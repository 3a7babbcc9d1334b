"""A user's history as entries, each saying what it was (from the ledger entry's kind and reference).

The ledger keeps one posting per account moved; a user reads one line per entry: a trade that took money
and gave kWh is one "Bought 2.0 kWh" line. What an entry was comes from its kind, never from its sign:
  trade          Bought / Sold and the kWh (from the trade row of the entry)
  offer, release kWh into an offer's escrow, and back;  bid, release: money held for a bid, and back
  contribution   to a cluster (its name, from the memo's code);  transfer: to / from whom (the memo's ids)
  meter, credit  a meter's export (less import), an operator's credit
  collection, payout-hold, payout-release   a deposit, a withdrawal, a failed withdrawal's money back
The labels in words live with the screen (menus/wallet/history.py); this module only reads, columns only
(no ORM entities): `s` is an AsyncSession or a Core read connection (Services.reads, issue 18: the history
screen's ORM reads were its hop's largest cost).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Cluster, Payment, Trade, User
from enerlectra.domain import ledger
from enerlectra.domain.payment_states import OPEN


@dataclass
class Entry:
    entry_id: int
    kind: str
    when: datetime | None
    money: int = 0                  # minor units, signed as the user's wallet moved
    energy: int = 0                 # Wh, signed
    currency: str = ""
    wh: int = 0                     # a trade's kWh (the label says it even when only money moved)
    side: str = ""                  # a trade: buy / sell
    other: str = ""                 # whom: the other person of a transfer, the cluster of a contribution
    memo: str = field(default="", repr=False)


async def entries(s: AsyncSession, user_id: int, currency: str, limit: int) -> list[Entry]:
    """The user's newest `limit` entries touching their wallet or energy, newest first."""
    codes = [ledger.user_code(user_id, currency), ledger.user_code(user_id, ledger.ENERGY)]
    by_id: dict[int, Entry] = {}
    for line in await ledger.history(s, codes, limit=limit * 2):      # a trade may post to both accounts
        entry = by_id.setdefault(line.entry_id, Entry(line.entry_id, line.kind, line.when, memo=line.memo))
        if line.asset == ledger.ENERGY:
            entry.energy += line.amount
        else:
            entry.money, entry.currency = entry.money + line.amount, line.asset
    found = sorted(by_id.values(), key=lambda e: e.entry_id, reverse=True)[:limit]
    await _trades(s, user_id, [e for e in found if e.kind == "trade"])
    await _counterparts(s, user_id, found)
    return found


@dataclass(frozen=True)
class Waiting:
    """A deposit or withdrawal of the user's not settled yet."""
    direction: str          # collection (a deposit) or payout
    amount: int             # minor units
    currency: str
    created_at: datetime | None


_WAITING = (select(Payment.direction, Payment.amount, Payment.currency, Payment.created_at)
            .where(Payment.user_id == bindparam("user_id"), Payment.state.in_(OPEN), Payment.funding.is_(None))
            .order_by(Payment.id.desc()))


async def waiting_payments(s: AsyncSession, user_id: int) -> list[Waiting]:
    """The user's own deposits and withdrawals not settled yet (a cluster's payout is not theirs), newest first."""
    return [Waiting(*row) for row in (await s.execute(_WAITING, {"user_id": user_id})).all()]


async def _trades(s: AsyncSession, user_id: int, trades: list[Entry]) -> None:
    if not trades:
        return
    rows = (await s.execute(select(Trade.entry_id, Trade.wh, Trade.seller_id)
                            .where(Trade.entry_id.in_([e.entry_id for e in trades])))).all()
    by_entry = {entry_id: (wh, seller_id) for entry_id, wh, seller_id in rows}
    for e in trades:
        if e.entry_id in by_entry:
            wh, seller_id = by_entry[e.entry_id]
            e.wh, e.side = wh, "sell" if seller_id == user_id else "buy"


def _ids(memo: str) -> tuple[int, int] | None:
    """A transfer's memo: '<sender id>><recipient id>'."""
    sender, _, recipient = memo.partition(">")
    return (int(sender), int(recipient)) if sender.isdigit() and recipient.isdigit() else None


async def _counterparts(s: AsyncSession, user_id: int, found: list[Entry]) -> None:
    pairs = {e.entry_id: _ids(e.memo) for e in found if e.kind == "transfer"}
    others = {eid: (p[1] if p[0] == user_id else p[0]) for eid, p in pairs.items() if p}
    codes = {e.entry_id: e.memo.removeprefix("cluster ").strip() for e in found
             if e.kind == "contribution" and e.memo.startswith("cluster ")}
    names = dict((await s.execute(select(User.id, User.name).where(User.id.in_(set(others.values()))))).all()) \
        if others else {}
    clusters = dict((await s.execute(select(Cluster.code, Cluster.name).where(Cluster.code.in_(set(codes.values())))
                                     )).all()) if codes else {}
    for e in found:
        if e.entry_id in others:
            e.other = names.get(others[e.entry_id], "")
        elif e.entry_id in codes:
            e.other = clusters.get(codes[e.entry_id], codes[e.entry_id])
