"""Joining a cluster by its code: an open cluster admits at once, a closed one puts the admission to a vote.

It sits above both members and proposals (an admission is a proposal), so neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Cluster, User
from enerlectra.domain.clusters import members, proposals


@dataclass(frozen=True)
class Joined:
    cluster: Cluster
    proposal_number: int | None      # a closed cluster: the admission put to a vote (#number)


async def join(s: AsyncSession, user: User, code: str) -> Joined:
    """Join by code. Raises ClusterError: unknown_code, already_member, other_country."""
    cluster = await members.by_code(s, code)
    if cluster is None:
        raise members.ClusterError("unknown_code")
    mine = await members.membership_of(s, user.id)
    if mine is not None:
        raise members.ClusterError("already_member" if mine[0].id == cluster.id else "in_another")
    if cluster.currency != user.currency:
        raise members.ClusterError("other_country")
    if cluster.open:
        await members.add_member(s, cluster, user)
        return Joined(cluster, None)
    opened = await proposals.open_(s, cluster, user, "admit", title="admit", subject=user)
    return Joined(cluster, opened.proposal.number)
