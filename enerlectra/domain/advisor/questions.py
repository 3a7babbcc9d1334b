"""Questions to the advisor: asked within a daily limit, claimed by one job, answered once by SMS.

The limit is counted under a lock on the user's row (PostgreSQL: FOR UPDATE; SQLite: the write
transaction is already exclusive), so 20 questions at once from one number still admit only the limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.clock import now
from enerlectra.db.models import AdvisorQuestion, User
from enerlectra.domain import outbox
from enerlectra.domain.pins import LOCAL_TIME, aware_utc
from enerlectra.domain.work import followups

MAX_QUESTION = 500            # characters kept (an SMS can be longer; a question need not be)
EARLIER_TURNS = 2             # follow-up context: at most this many earlier question/answer pairs


def day_start(when: datetime, country: str) -> datetime:
    """Midnight of the user's local day, in UTC."""
    local = when.astimezone(LOCAL_TIME.get(country, timezone.utc))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


@dataclass(frozen=True)
class Asked:
    question_id: int | None        # None: over the daily limit, nothing stored
    asked_today: int               # including this one when it was stored


async def ask(s: AsyncSession, key: str, user: User, topic: str, question: str, source: str, *,
              daily_limit: int, at: datetime | None = None) -> Asked:
    """Store a question inside the caller's transaction, unless the user is over today's limit; its unit of
    work hands it to the advisor's queue after the commit.

    The same `key` again (a repeated hop or SMS) returns the first row.
    """
    at = at or now()
    await s.execute(select(User.id).where(User.id == user.id).with_for_update())   # one asker at a time
    seen = await s.scalar(select(AdvisorQuestion.id).where(AdvisorQuestion.request_key == key))
    count = await asked_since(s, user.id, day_start(at, user.country))
    if seen is not None:               # answered once: the job id is the question's, so no second answer
        followups(s).question(seen)
        return Asked(seen, count)
    if count >= daily_limit:
        return Asked(None, count)
    row = AdvisorQuestion(request_key=key, user_id=user.id, topic=topic, source=source, language=user.language,
                          question=question.strip()[:MAX_QUESTION], status="queued", input_tokens=0,
                          output_tokens=0, cost_micro_usd=0, attempts=0, created_at=at)
    s.add(row)
    await s.flush()
    followups(s).question(row.id)
    return Asked(row.id, count + 1)


async def asked_since(s: AsyncSession, user_id: int, since: datetime) -> int:
    """Questions counted against the limit: a question we failed to answer (apology sent) is not."""
    return await s.scalar(select(func.count()).select_from(AdvisorQuestion).where(
        AdvisorQuestion.user_id == user_id, AdvisorQuestion.created_at >= since,
        AdvisorQuestion.status != "failed")) or 0


async def recent_topic(s: AsyncSession, user_id: int, within: timedelta, at: datetime | None = None) -> str | None:
    """The topic of the user's last question within the follow-up window (a follow-up stays on it)."""
    at = at or now()
    return await s.scalar(select(AdvisorQuestion.topic).where(
        AdvisorQuestion.user_id == user_id, AdvisorQuestion.created_at >= at - within)
        .order_by(AdvisorQuestion.id.desc()).limit(1))


async def claim(s: AsyncSession, question_id: int, lease: timedelta) -> AdvisorQuestion | None:
    """Take the question for answering; None when another job has it or it is answered already."""
    t = now()
    claimed = (await s.scalars(
        update(AdvisorQuestion).where(
            AdvisorQuestion.id == question_id,
            or_(AdvisorQuestion.status == "queued",
                (AdvisorQuestion.status == "answering") & (AdvisorQuestion.lease_until < t)))
        .values(status="answering", attempts=AdvisorQuestion.attempts + 1, lease_until=t + lease)
        .returning(AdvisorQuestion), execution_options={"synchronize_session": False})).first()
    return claimed


async def earlier_turns(s: AsyncSession, q: AdvisorQuestion, within: timedelta) -> list[tuple[str, str]]:
    """The user's answered questions within the follow-up window before `q`, oldest first."""
    since = aware_utc(q.created_at) - within
    rows = (await s.execute(select(AdvisorQuestion.question, AdvisorQuestion.answer).where(
        AdvisorQuestion.user_id == q.user_id, AdvisorQuestion.id < q.id, AdvisorQuestion.status == "answered",
        AdvisorQuestion.answered_at >= since)
        .order_by(AdvisorQuestion.id.desc()).limit(EARLIER_TURNS))).all()
    return [(r[0], r[1]) for r in reversed(rows)]


@dataclass(frozen=True)
class Usage:
    backend: str                   # claude / offline
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_usd: int = 0
    stop_reason: str | None = None


async def finish(s: AsyncSession, q: AdvisorQuestion, msisdn: str, sms: str, usage: Usage | None,
                 error: str | None = None) -> None:
    """Queue the answer (or the apology, when `error`) and close the question.

    The SMS is keyed by the question, so a second job finishing the same question sends nothing more.
    """
    row = await outbox.add(s, msisdn, sms, "advisor" if error is None else "advisor-apology", essential=True,
                           dedupe_key=f"advisor:{q.id}")
    usage = usage or Usage(backend="none")
    await s.execute(update(AdvisorQuestion).where(AdvisorQuestion.id == q.id).values(
        status="failed" if error else "answered", answer=None if error else sms, error=error,
        backend=usage.backend, model=usage.model, input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens, cost_micro_usd=usage.cost_micro_usd, stop_reason=usage.stop_reason,
        lease_until=None, answered_at=now(), outbox_id=row.id if row is not None else q.outbox_id))


async def stale(s: AsyncSession, older_than: timedelta) -> list[int]:
    """Questions no job has finished: queued too long (a lost enqueue) or a claim whose lease ran out."""
    t = now()
    return list((await s.scalars(select(AdvisorQuestion.id).where(or_(
        (AdvisorQuestion.status == "queued") & (AdvisorQuestion.created_at < t - older_than),
        (AdvisorQuestion.status == "answering") & (AdvisorQuestion.lease_until < t)))
        .order_by(AdvisorQuestion.id).limit(500))).all())
