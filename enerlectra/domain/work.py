"""One unit of work: a SQL transaction whose follow-ups are handed to the job queue once it commits.

Domain code records a follow-up on the session at the point it creates its row: `outbox.add` records the
SMS to send, `questions.ask` the question to answer, a proposal that passed its payout. No caller threads
lists of ids back up, so no caller can forget one. `unit_of_work` opens the session and the transaction,
and after the commit (only then) gives what was recorded to the session's job sink, once. A rollback
enqueues nothing. A failed enqueue (Redis down) is logged once and left to the sweepers, which find the
committed rows still queued.

The sink is bound to the sessionmaker (`with_jobs`), so a domain function that opens its own unit of work
from the `db` it was given reaches the same queues as the screen that called it. A sessionmaker without a
sink (the CLI, unit tests) enqueues nothing: the sweepers send what is committed.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

FOLLOWUPS = "enerlectra.followups"     # session.info: what this transaction will hand to the workers
JOBS = "enerlectra.jobs"               # session.info (from the sessionmaker): where it hands them
SAVEPOINTS = "enerlectra.savepoints"   # session.info: how much was recorded when each open savepoint began
OPEN = "enerlectra.unit_of_work"       # session.info: this session is a unit of work's (follow-ups may be recorded)


@dataclass
class Followups:
    """What one committed transaction hands to the workers."""

    sends: list[tuple[int, int]] = field(default_factory=list)   # (outbox id, dispatch number)
    questions: list[int] = field(default_factory=list)           # advisor questions to answer
    payouts: list[int] = field(default_factory=list)             # passed proposals to pay from their pool

    def sms(self, row) -> None:
        """An outbox row just written (None: deduplicated; a suppressed row is never sent)."""
        if row is not None and row.status == "queued":
            self.sends.append((row.id, row.dispatches))

    def question(self, question_id: int) -> None:
        self.questions.append(question_id)

    def payout(self, proposal_id: int) -> None:
        self.payouts.append(proposal_id)

    def __bool__(self) -> bool:
        return bool(self.sends or self.questions or self.payouts)

    def describe(self) -> str:
        return f"{len(self.sends)} SMS, {len(self.questions)} question(s), {len(self.payouts)} payout(s)"

    def mark(self) -> tuple[int, int, int]:
        return len(self.sends), len(self.questions), len(self.payouts)

    def back_to(self, mark: tuple[int, int, int]) -> None:
        del self.sends[mark[0]:], self.questions[mark[1]:], self.payouts[mark[2]:]


Jobs = Callable[[Followups], Awaitable[None]]


class OutsideUnitOfWork(RuntimeError):
    """A follow-up recorded on a session no unit of work opened: it would be committed and never handed over."""


def followups(s: AsyncSession) -> Followups:
    """The follow-ups recorded in this session's transaction so far (only inside `unit_of_work`)."""
    if not s.info.get(OPEN):
        raise OutsideUnitOfWork("record follow-ups inside `async with unit_of_work(db) as s:`")
    return s.info.setdefault(FOLLOWUPS, Followups())


# A savepoint rolled back (a refused order, a lost race) takes back what was recorded inside it: its rows are
# gone, and their ids may be given to other rows later (SQLite reuses them).
@event.listens_for(Session, "after_transaction_create")
def _savepoint_began(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        found = session.info.get(FOLLOWUPS)
        session.info.setdefault(SAVEPOINTS, {})[transaction] = found.mark() if found else (0, 0, 0)


@event.listens_for(Session, "after_soft_rollback")      # runs after the savepoint's "transaction end"
def _savepoint_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    mark = session.info.get(SAVEPOINTS, {}).pop(previous_transaction, None)
    if mark is not None and FOLLOWUPS in session.info:
        session.info[FOLLOWUPS].back_to(mark)


def with_jobs(db: async_sessionmaker, jobs: Jobs | None) -> async_sessionmaker:
    """A sessionmaker like `db` whose units of work hand their follow-ups to `jobs`."""
    kw = dict(db.kw)
    info = {**(kw.pop("info", None) or {}), JOBS: jobs}
    return async_sessionmaker(class_=db.class_, info=info, **kw)


@asynccontextmanager
async def unit_of_work(db: async_sessionmaker, jobs: Jobs | None = None) -> AsyncIterator[AsyncSession]:
    """`async with unit_of_work(db) as s:` one session, one transaction; its follow-ups go to `jobs` (default:
    the sink bound to `db`) after the commit. An exception inside rolls back and enqueues nothing."""
    async with db() as s:
        s.info[OPEN] = True
        try:
            async with s.begin():
                yield s
        finally:
            s.info.pop(OPEN, None)
        done = s.info.pop(FOLLOWUPS, None)
        s.info.pop(SAVEPOINTS, None)
        sink = jobs if jobs is not None else s.info.get(JOBS)
    if done and sink is not None:
        await hand_over(sink, done)


async def hand_over(sink: Jobs, done: Followups) -> None:
    """Enqueue committed follow-ups; a failure is logged once and never undoes the commit."""
    try:
        await sink(done)
    except Exception as exc:      # the rows are committed: the sweepers will find them
        log.error("enqueue after commit failed (%s: %s); the sweepers will pick up %s",
                  type(exc).__name__, exc, done.describe())
