"""A broadcast: one news SMS to a cluster's active members or a segment of users (country, language).

STOP is respected: opted-out users are not counted or picked (at the send, not only at the preview), and
every row is non-essential. Each row's dedupe key
names the broadcast and the recipient, so a confirm posted twice queues nothing twice. The audit row
(sms.broadcast, with the count) commits with the rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra.db.dialects import insert_for
from enerlectra.db.models import Cluster, Membership, SmsOutbox, User
from enerlectra.domain import audit
from enerlectra.domain.work import followups, unit_of_work
from enerlectra.text.gsm7 import segment

KIND = "broadcast"
MAX_SEGMENTS = 3


class BadBroadcast(ValueError):
    """A broadcast we refuse, with the one line that says why."""


@dataclass(frozen=True)
class Audience:
    cluster: str = ""            # a cluster's code: its active members
    country: str = ""            # or a segment: ZM / TZ ('' = any) ...
    language: str = ""           # ... and en / bem / nya / sw ('' = any)

    def describe(self) -> str:
        if self.cluster:
            return f"cluster {self.cluster} (active members)"
        return f"country {self.country or 'any'}, language {self.language or 'any'}"

    def users(self, opted_out: bool = False):
        """SELECT users.id, users.msisdn of the audience (those who sent STOP when `opted_out`)."""
        query = select(User.id, User.msisdn).where(User.sms_opt_out.is_(opted_out))
        if self.cluster:
            return (query.join(Membership, and_(Membership.user_id == User.id, Membership.status == "active"))
                    .join(Cluster, Cluster.id == Membership.cluster_id).where(Cluster.code == self.cluster))
        if self.country:
            query = query.where(User.country == self.country)
        if self.language:
            query = query.where(User.language == self.language)
        return query


def segments(text: str) -> int:
    """The text's segments; BadBroadcast when it is empty or longer than MAX_SEGMENTS."""
    if not text.strip():
        raise BadBroadcast("Write the text to send.")
    count = segment(text).count
    if count > MAX_SEGMENTS:
        raise BadBroadcast(f"The text is {count} SMS segments; a broadcast may be {MAX_SEGMENTS} at most.")
    return count


@dataclass(frozen=True)
class Preview:
    recipients: int
    opted_out: int               # left out: they sent STOP
    segments: int


async def preview(s: AsyncSession, audience: Audience, text: str) -> Preview:
    """Who would get it and how long it is, counted in SQL. BadBroadcast: no such cluster, or a bad text."""
    count = segments(text)
    if audience.cluster and await s.scalar(select(Cluster.id).where(Cluster.code == audience.cluster)) is None:
        raise BadBroadcast(f"No cluster has code {audience.cluster}.")
    counted = [await s.scalar(select(func.count()).select_from(audience.users(flag).subquery()))
               for flag in (False, True)]
    return Preview(counted[0], counted[1], count)


CHUNK = 1000     # recipients per transaction: SQLite's one writer is never held long, whatever the audience


async def send(db: async_sessionmaker, audience: Audience, text: str, broadcast_id: str,
               actor: audit.Actor) -> int:
    """Queue one SMS per recipient once per `broadcast_id`; returns how many were queued now (0: a repeat).

    Recipients go in chunks, one short transaction each: one INSERT of the chunk's rows, ON CONFLICT on the
    dedupe key DO NOTHING, so a confirm posted twice (even at once) queues nobody twice. The audit row commits
    with the last chunk; a send cut off midway is finished (and audited) by posting the confirm again."""
    count, seg = segments(text), segment(text)
    queued, after = 0, 0
    while True:
        async with unit_of_work(db) as s:
            chunk = (await s.execute(audience.users().where(User.id > after).order_by(User.id).limit(CHUNK))).all()
            rows = [{"msisdn": msisdn, "body": text, "kind": KIND, "essential": False, "bulk": True,
                     "status": "queued",
                     "encoding": seg.encoding, "segments": seg.count, "attempts": 0, "dispatches": 1,
                     "dedupe_key": f"{KIND}:{broadcast_id}:{user_id}"} for user_id, msisdn in chunk]
            if rows:
                done = await s.execute(insert_for(s)(SmsOutbox).on_conflict_do_nothing(index_elements=["dedupe_key"])
                                       .returning(SmsOutbox.id), rows)
                ids = list(done.scalars())
                followups(s).sends.extend((row_id, 1) for row_id in ids)
                queued, after = queued + len(ids), chunk[-1][0]
            last = len(chunk) < CHUNK
            if last and queued:
                audit.record(s, actor, "sms.broadcast", f"broadcast:{broadcast_id}",
                             after={"audience": audience.describe(), "count": queued, "segments": count,
                                    "text": text})
        if last:
            return queued
