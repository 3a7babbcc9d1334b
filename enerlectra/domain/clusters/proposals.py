"""Proposals: open (ballots to every member), vote (one each, changeable while open), close (early once the
votes not yet cast cannot change the result, else at the deadline; once), and execute (a change to the cluster at once; a payment from the
pool through mobile money, by a job).

Every vote locks its proposal's row first, so votes on one proposal are counted one after the other and
the closing happens once; result SMS are keyed by proposal and member, so closing twice sends nothing more.
Members see a proposal's `number`, counted per cluster (#1, #2 ...); `id` stays internal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Cluster, Membership, Payment, Proposal, User, Vote, Voter
from enerlectra.domain import outbox
from enerlectra.domain.clusters import lifecycle, members, tally, texts
from enerlectra.domain.pins import aware_utc

DEFAULT_HOURS = 72
PAYS = ("equipment", "spend")           # kinds that pay a supplier from the pool once passed


@dataclass
class Opened:
    proposal: Proposal
    dispatch: list[tuple[int, int]] = field(default_factory=list)


async def subject_name(s: AsyncSession, proposal: Proposal) -> str | None:
    return await s.scalar(select(User.name).where(User.id == proposal.subject_id)) if proposal.subject_id else None


async def open_(s: AsyncSession, cluster: Cluster, proposer: User, kind: str, *, title: str, amount: int | None = None,
                payee: str | None = None, subject: User | None = None, hours: int = DEFAULT_HOURS,
                key: str | None = None) -> Opened:
    """Open a proposal; who may vote is fixed now (the active members), and each gets a ballot by SMS.
    Once per `key` (the hop that asked): the same request again returns the proposal it opened."""
    if key is not None:
        seen = await s.scalar(select(Proposal).where(Proposal.request_key == key))
        if seen is not None:
            return Opened(seen)
    voters = await members.active_members(s, cluster.id)
    await s.execute(select(Cluster.id).where(Cluster.id == cluster.id).with_for_update())  # numbers in turn (PG)
    for _attempt in range(5):
        number = (await s.scalar(select(func.max(Proposal.number)).where(Proposal.cluster_id == cluster.id)) or 0) + 1
        proposal = Proposal(request_key=key, cluster_id=cluster.id, number=number, proposer_id=proposer.id,
                            kind=kind, title=title.strip()[:60],
                            amount=amount, payee=payee, subject_id=subject.id if subject else None,
                            eligible=len(voters), quorum=tally.quorum_for(len(voters)),
                            deadline=outbox.now() + timedelta(hours=hours), state="open", yes=0, no=0)
        try:
            async with s.begin_nested():     # a racing proposal took the number (SQLite has no row lock)
                s.add(proposal)
            break
        except IntegrityError:
            continue
    else:
        raise RuntimeError(f"no free proposal number in cluster {cluster.id}")
    s.add_all([Voter(proposal_id=proposal.id, user_id=user.id) for _m, user in voters])
    opened = Opened(proposal)
    name = subject.name if subject else None
    for _m, user in voters:
        opened.dispatch += await members.say(s, user, texts.ballot, proposal, cluster, user, name,
                                             key=f"proposal:{proposal.id}:ballot:{user.id}")
    return opened


async def numbered(s: AsyncSession, user: User, number: int) -> Proposal | None:
    """The proposal a member means by #number: one they may vote on (an open one first, then the newest);
    else the one of that number in their cluster now, or about them (a newcomer's admission): they will hear
    they were not a member when it opened."""
    newest_open_first = ((Proposal.state == "open").desc(), Proposal.id.desc())
    mine = await s.scalar(select(Proposal).join(Voter, Voter.proposal_id == Proposal.id)
                          .where(Voter.user_id == user.id, Proposal.number == number)
                          .order_by(*newest_open_first).limit(1))
    if mine is not None:
        return mine
    found = await members.membership_of(s, user.id)
    near = Proposal.subject_id == user.id if found is None else or_(Proposal.cluster_id == found[0].id,
                                                                    Proposal.subject_id == user.id)
    return await s.scalar(select(Proposal).where(near, Proposal.number == number).order_by(*newest_open_first)
                          .limit(1))


@dataclass
class Voted:
    status: str                      # recorded / changed / same / closed / not_eligible / held / unknown
    proposal: Proposal | None = None
    decided: bool = False            # this vote closed the proposal (its result is in proposal.state)
    dispatch: list[tuple[int, int]] = field(default_factory=list)
    to_pay: list[int] = field(default_factory=list)     # proposals passed now that pay from the pool
    held_until: datetime | None = None  # held: the voter's PIN was reset, and this vote could pay from the pool


async def may_vote(s: AsyncSession, user: User, proposal: Proposal) -> bool:
    return await s.scalar(select(Voter.user_id).where(Voter.proposal_id == proposal.id,
                                                      Voter.user_id == user.id)) is not None


async def vote(s: AsyncSession, user: User, proposal_id: int, choice: str, at: datetime | None = None) -> Voted:
    at = at or outbox.now()
    proposal = (await s.execute(select(Proposal).where(Proposal.id == proposal_id).with_for_update()
                                .execution_options(populate_existing=True))).scalar_one_or_none()
    if proposal is None:
        return Voted("unknown")
    if not await may_vote(s, user, proposal):
        return Voted("not_eligible", proposal)
    if proposal.state != "open" or aware_utc(proposal.deadline) <= at:
        return Voted("closed", proposal)
    if proposal.kind in PAYS:        # a vote that can pay from the pool is a money action: held after a reset
        held = aware_utc(await s.scalar(select(User.pin_reset_hold_until).where(User.id == user.id)))
        if held is not None and held > at:
            return Voted("held", proposal, held_until=held)
    mine = await s.scalar(select(Vote).where(Vote.proposal_id == proposal.id, Vote.user_id == user.id))
    if mine is None:
        s.add(Vote(proposal_id=proposal.id, user_id=user.id, choice=choice, updated_at=at))
        status = "recorded"
    elif mine.choice == choice:
        status = "same"
    else:
        mine.choice, mine.updated_at, status = choice, at, "changed"
    await s.flush()
    yes, no = await counts(s, proposal.id)
    decision = tally.decide(proposal.eligible, proposal.quorum, yes, no, deadline_passed=False)
    voted = Voted(status, proposal)
    if decision:
        await _close(s, proposal, decision, yes, no, voted)
        voted.decided = True
    return voted


async def counts(s: AsyncSession, proposal_id: int) -> tuple[int, int]:
    yes, no = (await s.execute(select(
        func.coalesce(func.sum(case((Vote.choice == "yes", 1), else_=0)), 0),
        func.coalesce(func.sum(case((Vote.choice == "no", 1), else_=0)), 0))
        .where(Vote.proposal_id == proposal_id))).one()
    return int(yes), int(no)


async def _close(s: AsyncSession, proposal: Proposal, decision: str, yes: int, no: int, out: Voted) -> None:
    """Close once (the machine refuses a second time); tell every voter; apply what needs no payment."""
    if lifecycle.advance(proposal.state, decision) is None:
        return
    proposal.state, proposal.yes, proposal.no, proposal.closed_at = decision, yes, no, outbox.now()
    cluster = await s.get(Cluster, proposal.cluster_id)
    name = await subject_name(s, proposal)
    told = [u for u in (await s.scalars(select(User).join(Voter, Voter.user_id == User.id)
                                        .where(Voter.proposal_id == proposal.id).order_by(User.id))).all()]
    if proposal.kind == "admit" and proposal.subject_id:
        told.append(await s.get(User, proposal.subject_id))
    for user in told:
        out.dispatch += await members.say(s, user, texts.result, proposal, cluster, name,
                                          key=f"proposal:{proposal.id}:result:{user.id}")
    if decision != "passed":
        return
    if proposal.kind in PAYS:
        out.to_pay.append(proposal.id)
        return
    if proposal.kind == "admit":
        out.dispatch += await members.add_member(s, cluster, await s.get(User, proposal.subject_id))
    elif proposal.kind == "remove":
        membership = await s.scalar(select(Membership).where(Membership.cluster_id == cluster.id,
                                                             Membership.user_id == proposal.subject_id))
        if membership is not None and membership.status == "active":
            membership.status, membership.left_at = "removed", outbox.now()
    elif proposal.kind == "target":
        cluster.target = proposal.amount
    proposal.state = lifecycle.advance(proposal.state, "executed")


async def close_due(s: AsyncSession, at: datetime | None = None) -> Voted:
    """Close every open proposal past its deadline (the scheduled job); one Voted carries all follow-ups."""
    at = at or outbox.now()
    out = Voted("closed")
    due = (await s.scalars(select(Proposal.id).where(Proposal.state == "open", Proposal.deadline <= at)
                           .order_by(Proposal.id))).all()
    for proposal_id in due:
        proposal = (await s.execute(select(Proposal).where(Proposal.id == proposal_id).with_for_update()
                                    .execution_options(populate_existing=True))).scalar_one()
        yes, no = await counts(s, proposal.id)
        await _close(s, proposal, tally.decide(proposal.eligible, proposal.quorum, yes, no, deadline_passed=True),
                     yes, no, out)
    return out


async def unpaid(s: AsyncSession) -> list[int]:
    """Passed proposals that pay a supplier and have no payment yet (the execute job's work)."""
    return list((await s.scalars(select(Proposal.id).where(Proposal.state == "passed", Proposal.kind.in_(PAYS),
                                                           Proposal.payment_ref.is_(None)))).all())


async def payment_for(s: AsyncSession, proposal_id: int) -> Payment | None:
    return await s.scalar(select(Payment).where(Payment.purpose == f"proposal:{proposal_id}"))


async def payout_failed(s: AsyncSession, proposal: Proposal, reason: str) -> list[tuple[int, int]]:
    """The payment could not start (pool short, network not served, over the limit): members are told."""
    proposal.state = lifecycle.advance(proposal.state, "execution_failed") or proposal.state
    return await _tell_members(s, proposal, texts.payout_failed, f"proposal:{proposal.id}:payout:{reason}")


async def payout_settled(s: AsyncSession, payment: Payment, state: str) -> list:
    """Payments' listener for purpose "proposal:<id>": executed (members told it is paid) or failed (the hold
    went back to the pool: members told)."""
    proposal = await s.get(Proposal, int(payment.purpose.split(":")[1]))
    if state == "succeeded":
        proposal.state = lifecycle.advance(proposal.state, "executed") or proposal.state
        return await _tell_members(s, proposal, texts.paid, f"proposal:{proposal.id}:paid")
    if state in ("failed", "expired"):
        return await payout_failed(s, proposal, "failed")
    return []


async def _tell_members(s: AsyncSession, proposal: Proposal, render, key: str) -> list:
    cluster = await s.get(Cluster, proposal.cluster_id)
    rows = []
    for _m, user in await members.active_members(s, cluster.id):
        rows += await members.say(s, user, render, proposal, cluster, key=f"{key}:{user.id}")
    return rows


async def open_list(s: AsyncSession, cluster_id: int, limit: int = 9) -> list[Proposal]:
    return list((await s.scalars(select(Proposal).where(Proposal.cluster_id == cluster_id, Proposal.state == "open")
                                 .order_by(Proposal.id).limit(limit))).all())
