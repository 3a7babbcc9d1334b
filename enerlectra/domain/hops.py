"""Which money steps a USSD hop has taken: a hop key moves money for one kind of step only.

After Redis lost a session, a retransmitted hop is walked again from the main menu (`Engine._open`). When the
session had begun with the resume offer ("Continue where you left off?"), its first input answered that offer,
and the walk reads every input one place off: the path of a buy can lead to a withdrawal. Both keys derive from
the same hop, so each step alone would be idempotent and still run; this is what lets the second one refuse.
"""
from __future__ import annotations

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import JournalEntry, MarketOrder, Payment, Proposal, Rental
from enerlectra.domain.rentals.service import request_key

# kind -> the key its rows carry, from the hop key (the screens build them the same way)
SUFFIX = {"payment": "", "send": ":send", "contribute": ":contribute", "sell": ":sell", "buy": ":buy",
          "propose": ":propose", "rent": ":rent", "extend": ":extend", "lost": ":lost"}
# The rental kernel keeps the key the screens pass it (hop key + SUFFIX, as rentals.service.request_key stores
# it): a rent's on its rental (request_key), a loss report's on the rental it closed (end_key), an extension's
# on its ledger entry (that key + ":extend"). Read back only for the hop's own user (None: no account yet).


def _rental_keys(hop_key: str, user_id: int | None) -> dict[str, str]:
    if user_id is None:
        return {}
    return {request_key(f"{hop_key}:rent"): "rent", request_key(f"{hop_key}:lost"): "lost",
            request_key(f"{hop_key}:extend") + ":extend": "extend"}


async def taken(s: AsyncSession, hop_key: str, user_id: int | None = None) -> set[str]:
    """The kinds of money step that already ran with this hop key (one query over the five tables); rental
    steps only of `user_id`, the hop's caller."""
    rentals = _rental_keys(hop_key, user_id)
    keys = {f"{hop_key}{suffix}": kind for kind, suffix in SUFFIX.items()} | rentals
    by_kind = {kind: key for key, kind in rentals.items()}
    queries = [
        select(Payment.request_key).where(Payment.request_key == hop_key),
        select(JournalEntry.idempotency_key).where(
            JournalEntry.idempotency_key.in_([f"{hop_key}:send", f"{hop_key}:contribute", *by_kind.values()])),
        select(MarketOrder.request_key).where(MarketOrder.request_key.in_([f"{hop_key}:sell", f"{hop_key}:buy"])),
        select(Proposal.request_key).where(Proposal.request_key == f"{hop_key}:propose")]
    if rentals:
        queries += [select(Rental.request_key).where(Rental.request_key == by_kind["rent"],
                                                     Rental.user_id == user_id),
                    select(Rental.end_key).where(Rental.end_key == by_kind["lost"], Rental.user_id == user_id)]
    found = await s.scalars(union_all(*queries))
    return {keys[k] for k in found}
