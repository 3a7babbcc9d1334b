"""Issue 17, item 6: one unit of work. Follow-ups recorded inside it (SMS rows, advisor questions, payouts)
reach the job queues once, after the commit, with the job ids the workers rely on; a rollback enqueues
nothing; a queue that is down is logged once and never undoes the commit; and no module outside the unit
of work hands work to the queues itself.

Real SQL (a migrated database), real Redis, real rq queues.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import func, select

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import SmsOutbox, User
from enerlectra.domain import outbox, users
from enerlectra.domain.advisor import questions
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.work import followups, unit_of_work, with_jobs
from enerlectra.jobs import ADVISOR, DRAIN_JOB, MONEY, SMS, Dispatcher, make_queues, redis_client

ROOT = Path(__file__).resolve().parent.parent
ASKER = "+260971700001"


@pytest.fixture
async def world(settings):
    """(db bound to the real queues, the queues, a registered user)."""
    engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
    connection = redis_client(settings.redis_url)
    queues = make_queues(connection, settings.queue_name)
    db = with_jobs(make_sessionmaker(engine), Dispatcher(queues))
    user = await users.register(db, parse_msisdn(ASKER), "Mutale", "en", hash_user_pin("4826", 16))
    for queue in queues.values():          # registering queued nothing: no welcome text was given
        assert queue.job_ids == []
    yield db, queues, user
    connection.close()
    await engine.dispose()


def job_ids(queues: dict[str, Queue]) -> dict[str, list[str]]:
    return {kind: sorted(queue.job_ids) for kind, queue in queues.items()}


async def queued_rows(db) -> int:
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(SmsOutbox))


async def record(s, user: User, n_sms: int, n_questions: int, payouts: list[int], tag: str) -> tuple[list, list]:
    """Follow-ups as domain code records them: rows through the outbox, questions through the advisor."""
    rows = [await outbox.add(s, f"+2609717{i:05d}", f"{tag} news {i}", "test", essential=True) for i in range(n_sms)]
    asked = [(await questions.ask(s, f"{tag}:{i}", user, "solar", f"question {i}?", "sms", daily_limit=99))
             .question_id for i in range(n_questions)]
    for proposal_id in payouts:
        followups(s).payout(proposal_id)
    return rows, asked


@pytest.mark.parametrize("n_sms, n_questions, payouts", [
    (1, 0, []), (0, 1, []), (0, 0, [7]), (3, 2, [11, 12]), (0, 0, []),
])
async def test_follow_ups_are_enqueued_once_after_the_commit_with_todays_job_ids(world, n_sms, n_questions,
                                                                                  payouts):
    db, queues, user = world
    async with unit_of_work(db) as s:
        rows, asked = await record(s, user, n_sms, n_questions, payouts, "once")
        assert job_ids(queues) == {MONEY: [], SMS: [], ADVISOR: []}, "nothing before the commit"
        dispatched = [(r.id, r.dispatches) for r in rows]
    advisor, money = queues[ADVISOR].name, queues[MONEY].name
    expected = {ADVISOR: sorted(f"{advisor}-ask-{q}-0" for q in asked),
                MONEY: sorted(f"{money}-pay-{p}-0" for p in payouts)}
    found = job_ids(queues)
    drains = found.pop(SMS)
    assert found == expected
    assert len(drains) == (1 if n_sms else 0), "new SMS wake one drain job, however many rows"
    jobs = {job.id: job for queue in queues.values() for job in queue.jobs}
    assert {job.func_name for job in jobs.values()} <= {DRAIN_JOB, "workers.advisor.answer_question",
                                                      "workers.clusters.pay_proposal"}
    assert all(jobs[d].func_name == DRAIN_JOB and not jobs[d].args for d in drains)
    assert all(d == 1 for _i, d in dispatched), "new rows are on their first dispatch"
    expected[SMS] = drains

    async with unit_of_work(db) as s:      # a unit of work that records nothing enqueues nothing more
        await s.execute(select(User.id))
    assert job_ids(queues) == expected


async def test_a_repeated_question_enqueues_its_one_job_again_harmlessly(world):
    """The same key again (a retried SMS) records the same question: rq's unique id keeps one job."""
    db, queues, user = world
    for _ in range(2):
        async with unit_of_work(db) as s:
            await record(s, user, 0, 1, [], "again")
    assert len(queues[ADVISOR].job_ids) == 1


@pytest.mark.parametrize("where", ["body", "after_flush"])
async def test_a_rollback_enqueues_nothing(world, where):
    db, queues, user = world
    with pytest.raises(RuntimeError):
        async with unit_of_work(db) as s:
            await record(s, user, 2, 1, [5], "rollback")
            if where == "after_flush":
                await s.flush()
            raise RuntimeError("the screen failed after queueing")
    assert job_ids(queues) == {MONEY: [], SMS: [], ADVISOR: []}
    assert await queued_rows(db) == 0


async def test_a_savepoint_rolled_back_takes_back_what_it_recorded(world):
    """A refused order rolls back its savepoint: its rows are gone, so are their jobs; the rest go out."""
    db, queues, user = world
    seen = []

    async def keep(done) -> None:          # what the sink is handed (new SMS only wake one drain job)
        seen.append(done)

    async with unit_of_work(db, keep) as s:
        [kept], _ = await record(s, user, 1, 0, [], "kept")
        with pytest.raises(RuntimeError):
            async with s.begin_nested():
                await record(s, user, 2, 1, [9], "refused")
                raise RuntimeError("insufficient funds")
        async with s.begin_nested():
            [released], _ = await record(s, user, 1, 0, [], "released")
    assert [(d.sends, d.questions, d.payouts) for d in seen] == [([(kept.id, 1), (released.id, 1)], [], [])]
    assert await queued_rows(db) == 2


async def test_a_queue_that_is_down_is_logged_once_and_keeps_the_commit(settings, world, caplog):
    db, _queues, user = world
    down = redis_client("redis://:hunter2-secret@127.0.0.1:9/0")       # nothing listens on port 9
    try:
        dead = with_jobs(db, Dispatcher(make_queues(down, settings.queue_name)))
        with caplog.at_level(logging.INFO):
            async with unit_of_work(dead) as s:
                rows, _asked = await record(s, user, 2, 1, [3], "down")
    finally:
        down.close()
    async with db() as s:
        statuses = (await s.scalars(select(SmsOutbox.status).where(SmsOutbox.id.in_([r.id for r in rows])))).all()
    assert statuses == ["queued", "queued"], "committed, waiting for the sweeper"
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1 and failures[0].name == "enerlectra.domain.work"
    line = failures[0].getMessage()
    assert "2 SMS, 1 question(s), 1 payout(s)" in line and "\n" not in line
    assert "hunter2" not in caplog.text


async def test_the_sink_given_to_the_unit_of_work_wins_over_the_bound_one(world):
    db, queues, user = world
    seen = []

    async def keep(done) -> None:
        seen.append(done)

    async with unit_of_work(db, keep) as s:
        rows, _ = await record(s, user, 1, 0, [], "given")
    assert [d.sends for d in seen] == [[(rows[0].id, 1)]]
    assert queues[SMS].job_ids == []


# -- no hand-offs outside the unit of work -------------------------------------------------------------------

PACKAGES = ("enerlectra", "ussd_app", "menus", "sms", "payments", "workers", "simulator")
# Who may put follow-up jobs on the queues: the facade itself, a worker's sink, and the advisor's sweeper
# (its round ids differ from a unit of work's on purpose).
ALLOWED = {
    "enerlectra/jobs.py": "the queue facade: job names, ids and routing",
    "workers/runtime.py": "a worker's job sink for its units of work",
    "workers/advisor.py": "the question sweeper enqueues left-behind questions under a round id of its own",
    "workers/sms.py": "the outbox drain wakes its own continuation, and a drain when a retry's wait ends",
}
HAND_OFFS = re.compile(r"\benqueue_(sends|answers|each|followups)\b|\b(SEND|DRAIN|ANSWER|PAY)_JOB\b|\bwake_drain|"
                       r"appkeys\.DISPATCH\]\s*\(|\.(answers|payouts)\(|\bto_dispatch\(|\.dispatch\s*\+=|"
                       r"\bsend_sms\(\s*[a-z_.]*(dispatch|items)")


def hand_offs() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if HAND_OFFS.search(code) and not code.lstrip().startswith(("def ", "async def ")):
                    found.setdefault(name, []).append(f"{number}: {line.strip()}")
    return found


def test_only_the_unit_of_work_hands_follow_ups_to_the_queues():
    outside = {name: lines for name, lines in hand_offs().items() if name not in ALLOWED}
    assert outside == {}, "record follow-ups on the session (enerlectra/domain/work.py) instead: " + repr(outside)


@pytest.mark.parametrize("line", [
    "    await app[appkeys.DISPATCH](rows)",
    "    enqueue_sends(queue, items)",
    "    await ctx.services.payouts(result.to_pay)",
    "    placed.dispatch += await notify(s, user, body, kind)",
    "    return outbox.to_dispatch([row])",
    "    queue.enqueue(PAY_JOB, proposal_id)",
])
def test_the_hand_off_check_sees_the_old_shapes(line):
    assert HAND_OFFS.search(line)


def test_every_allowed_module_still_needs_its_exception():
    found = hand_offs()
    assert set(ALLOWED) <= set(found), "drop the exceptions no module needs any more"
