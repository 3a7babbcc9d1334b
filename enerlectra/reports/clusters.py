"""A cluster as the console's cluster pages show it: members, pool, contributions by day, proposals with their
votes, and the members' meters. Every figure is counted in SQL; numbers are masked (redact.mask_msisdn)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import (Account, Cluster, JournalEntry, Membership, Meter, MeterReading, Posting,
                                  Proposal, User, Vote, Voter)
from enerlectra.domain.clusters.members import pool_balance, pool_code
from enerlectra.domain.pins import aware_utc
from enerlectra.redact import mask_msisdn

__all__ = ["Member", "Contributions", "ProposalVotes", "MeterRow", "FlaggedRow", "members", "pool_balance",
           "contributions", "proposals", "meters", "flagged"]


@dataclass(frozen=True)
class Member:
    name: str
    number: str                    # masked
    role: str                      # chair / member
    status: str                    # active / left / removed
    contributed: int               # minor units, all time
    joined_at: datetime


@dataclass(frozen=True)
class Contributions:
    day: date                      # UTC day
    amount: int                    # minor units into the pool that day
    count: int


@dataclass(frozen=True)
class ProposalVotes:
    number: int
    kind: str
    title: str
    amount: int | None
    state: str
    deadline: datetime
    yes: int
    no: int
    not_voted: int                 # eligible voters who have not voted (yet, or ever: closed)


@dataclass(frozen=True)
class MeterRow:
    serial: str
    owner: str
    number: str                    # masked
    last_read_at: datetime | None  # the last good reading (the reference); None: never, or a reset waiting
    export_wh: int | None
    import_wh: int | None
    credited_wh: int               # all time
    flagged: int                   # readings flagged, all time
    latest_status: str | None      # the newest reading received: baseline / credited / flagged


@dataclass(frozen=True)
class FlaggedRow:
    serial: str
    number: str                    # masked
    read_at: datetime
    export_wh: int
    import_wh: int
    reason: str | None


async def members(s: AsyncSession, cluster_id: int) -> list[Member]:
    """Everyone who was ever a member: active first, then by joining."""
    rows = (await s.execute(select(User.name, User.msisdn, Membership.role, Membership.status,
                                   Membership.contributed, Membership.joined_at)
                            .join(User, User.id == Membership.user_id).where(Membership.cluster_id == cluster_id)
                            .order_by(case((Membership.status == "active", 0), else_=1), Membership.id))).all()
    return [Member(name, mask_msisdn(msisdn), role, status, int(given), aware_utc(joined))
            for name, msisdn, role, status, given, joined in rows]


def _as_date(value) -> date:
    """SQLite's date() is text, PostgreSQL's a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def contributions(s: AsyncSession, cluster: Cluster, since: datetime | None = None) -> list[Contributions]:
    """Money into the pool by contributions, per UTC day, oldest first."""
    day = func.date(JournalEntry.created_at)
    q = (select(day, func.sum(Posting.amount), func.count())
         .select_from(Posting).join(Account, Account.id == Posting.account_id)
         .join(JournalEntry, JournalEntry.id == Posting.entry_id)
         .where(Account.code == pool_code(cluster), JournalEntry.kind == "contribution", Posting.amount > 0)
         .group_by(day).order_by(day))
    if since is not None:
        q = q.where(JournalEntry.created_at >= since)
    return [Contributions(_as_date(d), int(amount), int(n)) for d, amount, n in (await s.execute(q)).all()]


async def proposals(s: AsyncSession, cluster_id: int, limit: int = 50) -> list[ProposalVotes]:
    """Newest first, with the votes as cast now (a changed vote counts once, as it stands)."""
    votes = (select(Vote.proposal_id, func.sum(case((Vote.choice == "yes", 1), else_=0)).label("yes"),
                    func.sum(case((Vote.choice == "no", 1), else_=0)).label("no"))
             .group_by(Vote.proposal_id).subquery())
    voters = select(Voter.proposal_id, func.count().label("n")).group_by(Voter.proposal_id).subquery()
    rows = (await s.execute(
        select(Proposal.number, Proposal.kind, Proposal.title, Proposal.amount, Proposal.state, Proposal.deadline,
               func.coalesce(votes.c.yes, 0), func.coalesce(votes.c.no, 0),
               func.coalesce(voters.c.n, Proposal.eligible))
        .outerjoin(votes, votes.c.proposal_id == Proposal.id).outerjoin(voters, voters.c.proposal_id == Proposal.id)
        .where(Proposal.cluster_id == cluster_id).order_by(Proposal.number.desc()).limit(limit))).all()
    return [ProposalVotes(n, kind, title, amount, state, aware_utc(deadline), int(yes), int(no),
                          max(int(eligible) - int(yes) - int(no), 0))
            for n, kind, title, amount, state, deadline, yes, no, eligible in rows]


def _members_meters(cluster_id: int):
    return (select(Meter.id).join(Membership, and_(Membership.user_id == Meter.user_id,
                                                   Membership.cluster_id == cluster_id,
                                                   Membership.status == "active")))


async def meters(s: AsyncSession, cluster_id: int) -> list[MeterRow]:
    """The active members' meters, each with its reference reading, totals and the newest reading's status."""
    totals = (select(MeterReading.meter_id, func.max(MeterReading.id).label("newest"),
                     func.sum(case((MeterReading.status == "credited", MeterReading.credited_wh), else_=0))
                     .label("credited"),
                     func.sum(case((MeterReading.status == "flagged", 1), else_=0)).label("flagged"))
              .where(MeterReading.meter_id.in_(_members_meters(cluster_id)))
              .group_by(MeterReading.meter_id).subquery())
    newest = MeterReading.__table__.alias("newest")
    rows = (await s.execute(
        select(Meter.number, User.name, User.msisdn, Meter.last_read_at, Meter.last_export_wh, Meter.last_import_wh,
               func.coalesce(totals.c.credited, 0), func.coalesce(totals.c.flagged, 0), newest.c.status)
        .join(User, User.id == Meter.user_id).outerjoin(totals, totals.c.meter_id == Meter.id)
        .outerjoin(newest, newest.c.id == totals.c.newest)
        .where(Meter.id.in_(_members_meters(cluster_id))).order_by(Meter.number))).all()
    return [MeterRow(serial, name, mask_msisdn(msisdn), aware_utc(last) if export is not None else None, export,
                     imported, int(credited), int(flagged), status)
            for serial, name, msisdn, last, export, imported, credited, flagged, status in rows]


async def flagged(s: AsyncSession, cluster_id: int, limit: int = 50) -> list[FlaggedRow]:
    """The active members' flagged readings, newest first."""
    rows = (await s.execute(
        select(Meter.number, User.msisdn, MeterReading.read_at, MeterReading.export_wh, MeterReading.import_wh,
               MeterReading.reason)
        .join(Meter, Meter.id == MeterReading.meter_id).join(User, User.id == Meter.user_id)
        .where(MeterReading.status == "flagged", MeterReading.meter_id.in_(_members_meters(cluster_id)))
        .order_by(MeterReading.id.desc()).limit(limit))).all()
    return [FlaggedRow(serial, mask_msisdn(msisdn), aware_utc(at), export, imported, reason)
            for serial, msisdn, at, export, imported, reason in rows]
