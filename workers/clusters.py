"""Cluster jobs: close proposals at their deadline (scheduled), and pay passed ones from their pool."""
from __future__ import annotations

import logging

import aiohttp
from sqlalchemy import select

from enerlectra.db.models import Cluster, Proposal, User
from enerlectra.domain import ledger
from enerlectra.domain.clusters import members, proposals
from enerlectra.domain.work import followups, unit_of_work
from payments import setup as payments_setup
from payments.service import NotServed, OverLimit
from workers import runtime

log = logging.getLogger(__name__)


def run_proposals() -> dict[str, int]:
    return runtime.run(_run)


async def _run(db) -> dict[str, int]:
    async with unit_of_work(db) as s:
        await proposals.close_due(s)
        done = followups(s)
        sms = len(done.sends)
        done.payouts.clear()           # this job pays them itself, just below
    async with db() as s:
        due = await proposals.unpaid(s)
    for proposal_id in due:
        await _pay(db, proposal_id)
    return {"to pay": len(due), "sms": sms}


def pay_proposal(proposal_id: int) -> str:
    return runtime.run(lambda db: _pay(db, proposal_id))


async def _pay(db, proposal_id: int) -> str:
    """Pay the supplier of a passed proposal from the pool, once: a payment already made for it is kept."""
    settings = runtime.settings()
    async with db() as s:
        proposal = await s.get(Proposal, proposal_id)
        if proposal is None or proposal.state != "passed":
            return "nothing to pay"
        if await proposals.payment_for(s, proposal_id) is not None:
            return "already paying"
        cluster = await s.get(Cluster, proposal.cluster_id)
        proposer = await s.get(User, proposal.proposer_id)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        payments = payments_setup.build(settings, db, http)
        try:
            started = await payments.pay_from(members.pool_code(cluster), proposer, proposal.payee, proposal.amount,
                                              purpose=f"proposal:{proposal.id}")
        except (ledger.InsufficientFunds, NotServed, OverLimit) as exc:
            async with unit_of_work(db) as s:
                locked = (await s.execute(select(Proposal).where(Proposal.id == proposal_id).with_for_update())
                          ).scalar_one()
                await proposals.payout_failed(s, locked, type(exc).__name__)
            log.warning("proposal %s: payout could not start: %s", proposal_id, exc)
            return f"payout refused: {type(exc).__name__}"
    async with db() as s, s.begin():
        locked = (await s.execute(select(Proposal).where(Proposal.id == proposal_id).with_for_update())).scalar_one()
        locked.payment_ref = started.reference
    return f"payment {started.reference}: {started.state}"
