"""Clusters and their members: create, join (open: at once; closed: by a vote), invite, contribute, leave.

The pool is the ledger account `cluster:<id>:<currency>`; a contribution is one entry from the member's
wallet, keyed by the caller (a USSD hop), and adds to the member's `contributed`.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import i18n
from enerlectra.db.models import Account, Cluster, Membership, User
from enerlectra.domain import ledger, outbox
from enerlectra.domain.clusters import texts
from enerlectra.domain.ledger import Leg

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no 0/O or 1/I: read out and typed on keypads
KINDS = ("micro", "neighbourhood", "industrial", "supply")


class ClusterError(Exception):
    """Why an action on a cluster cannot be done; `reason` names it for the screen or SMS."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def pool_code(cluster: Cluster) -> str:
    return f"cluster:{cluster.id}:{cluster.currency}"


async def pool_balance(s: AsyncSession, cluster: Cluster) -> int:
    return await s.scalar(select(Account.balance).where(Account.code == pool_code(cluster))) or 0


async def membership_of(s: AsyncSession, user_id: int) -> tuple[Cluster, Membership] | None:
    """The user's active cluster (one at a time), and the membership."""
    row = (await s.execute(select(Cluster, Membership).join(Membership, Membership.cluster_id == Cluster.id)
                           .where(Membership.user_id == user_id, Membership.status == "active"))).first()
    return (row[0], row[1]) if row else None


async def active_members(s: AsyncSession, cluster_id: int) -> list[tuple[Membership, User]]:
    return [(m, u) for m, u in (await s.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.cluster_id == cluster_id, Membership.status == "active").order_by(Membership.id))).all()]


async def count_members(s: AsyncSession, cluster_id: int) -> int:
    return await s.scalar(select(func.count()).select_from(Membership).where(
        Membership.cluster_id == cluster_id, Membership.status == "active")) or 0


async def create(s: AsyncSession, chair: User, name: str, kind: str, area: str, target: int, open_: bool) -> Cluster:
    if await membership_of(s, chair.id) is not None:
        raise ClusterError("already_member")
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))
        try:
            async with s.begin_nested():
                cluster = Cluster(code=code, name=name.strip()[:40], kind=kind, area=area.strip()[:40],
                                  currency=chair.currency, target=target, open=open_)
                s.add(cluster)
            break
        except IntegrityError:           # the code is taken: draw another
            continue
    else:
        raise ClusterError("no_code")
    s.add(Membership(cluster_id=cluster.id, user_id=chair.id, role="chair", status="active", contributed=0))
    await ledger.account(s, pool_code(cluster), "pool", cluster.currency)
    await s.flush()
    return cluster


async def by_code(s: AsyncSession, code: str) -> Cluster | None:
    return await s.scalar(select(Cluster).where(Cluster.code == code.strip().upper()))


async def add_member(s: AsyncSession, cluster: Cluster, user: User) -> None:
    """Make `user` an active member (again, after leaving); the welcome SMS is queued."""
    found = await s.scalar(select(Membership).where(Membership.cluster_id == cluster.id,
                                                    Membership.user_id == user.id))
    if found is None:
        s.add(Membership(cluster_id=cluster.id, user_id=user.id, role="member", status="active", contributed=0))
    else:
        found.status, found.left_at = "active", None
    await s.flush()
    await say(s, user, texts.welcome, cluster, key=None)


async def invite(s: AsyncSession, cluster: Cluster, inviter: User, number, invitee: User | None, *, key: str
                 ) -> None:
    """An SMS with the cluster's code, in the invitee's language (or their country's, if not registered); once
    per `key` (the hop that asked: a retransmitted hop pays for no second SMS)."""
    with i18n.language(invitee.language if invitee else number.default_language):
        body = texts.invitation(cluster, inviter.name)
    await outbox.add(s, number.e164, body, "cluster-invite", dedupe_key=key)


@dataclass(frozen=True)
class Contributed:
    cluster: Cluster
    total: int                        # what the member gave in all
    pool: int


async def contribute(s: AsyncSession, key: str, user: User, amount: int) -> Contributed:
    """Move `amount` from the member's wallet to the pool, with a receipt SMS (once per `key`).
    Raises ClusterError, ledger.InsufficientFunds, ledger.KeyReused (the key gave another amount or pool)."""
    found = await membership_of(s, user.id)
    if found is None:
        raise ClusterError("not_member")
    cluster, membership = found
    wallet = await ledger.user_money(s, user.id, cluster.currency)
    pool = await ledger.account(s, pool_code(cluster), "pool", cluster.currency)
    legs = [Leg(wallet.id, -amount), Leg(pool.id, amount)]
    posted = await ledger.post(s, key, "contribution", legs, memo=f"cluster {cluster.code}")
    if not posted.created:      # a repeat only if the key gave this amount to this pool, else "Thank you" lies
        await ledger.same_entry(s, key, posted.entry_id, "contribution", legs)
    if posted.created:
        membership.contributed += amount
        await say(s, user, texts.contributed, cluster, amount, membership.contributed,
                  await pool_balance(s, cluster), key=f"contribution:{key}")
    return Contributed(cluster, membership.contributed, await pool_balance(s, cluster))


async def leave(s: AsyncSession, user: User) -> Cluster:
    """Contributions stay in the pool. A chair leaving hands the chair to the longest-standing member."""
    found = await membership_of(s, user.id)
    if found is None:
        raise ClusterError("not_member")
    cluster, membership = found
    membership.status, membership.left_at = "left", outbox.now()
    if membership.role == "chair":
        membership.role = "member"
        successor = await s.scalar(select(Membership).where(
            Membership.cluster_id == cluster.id, Membership.status == "active").order_by(Membership.id).limit(1))
        if successor is not None:
            successor.role = "chair"
    return cluster


async def say(s: AsyncSession, user: User, render, *args, key: str | None) -> None:
    """Queue an SMS to `user` in their language; `key` makes it once-only (sent after the commit)."""
    with i18n.language(user.language):
        body = render(*args)
    await outbox.add(s, user.msisdn, body, "cluster", essential=True, dedupe_key=key)
