"""Advisor jobs: answer one question (Claude, or the offline bank with no API key) by SMS; sweep
questions a lost enqueue or a killed worker left behind."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from enerlectra import i18n
from enerlectra.db.models import AdvisorQuestion, User
from enerlectra.domain.advisor import bank, claude, context, prompts, questions, texts, topics
from enerlectra.domain.advisor.questions import Usage
from enerlectra.domain.work import unit_of_work
from enerlectra.jobs import ADVISOR, enqueue_answers, make_queue
from enerlectra.settings import Settings
from enerlectra.text.fit import budget, fit
from workers import runtime

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=3)          # longer than the SDK's timeout x retries at the defaults
STALE_AFTER = timedelta(seconds=60)


def answer_question(question_id: int) -> str:
    return runtime.run(lambda db: _answer(db, question_id))


async def _answer(db, question_id: int) -> str:
    settings = runtime.settings()
    followup = timedelta(minutes=settings.advisor_followup_minutes)
    async with db() as s, s.begin():
        q = await questions.claim(s, question_id, LEASE)
        if q is None:
            return "nothing to do (answered, or another job has it)"
        user = await s.get(User, q.user_id)
        facts = await context.facts(s, user)
        earlier = await questions.earlier_turns(s, q, followup)
    with i18n.language(user.language):
        sms, usage, error = await compose(settings, q, facts, earlier, user.language)
    async with unit_of_work(db) as s:
        await questions.finish(s, q, user.msisdn, sms, usage, error)
    if error:
        log.warning("advisor question %s: apology sent (%s)", q.id, error)
    return f"question {q.id}: {'apology' if error else usage.backend} ({len(sms)} chars)"


async def compose(settings: Settings, q: AdvisorQuestion, facts: context.UserFacts,
                  earlier: list[tuple[str, str]], language: str) -> tuple[str, Usage | None, str | None]:
    """(SMS text, usage, error): the answer fitted to 3 GSM-7 segments, or the apology and why."""
    if not settings.anthropic_api_key:
        answer = bank.answer(q.question, language, q.topic)
        if topics.BY_KEY[q.topic].quotes_market and facts.market_now is not None:
            answer = f"{texts.market_now_text(facts.market_now)} {answer}"
        return fit(answer, texts.ANSWER_SEGMENTS, suffix=texts.offline_word()), Usage("offline"), None
    room = budget(texts.ANSWER_SEGMENTS) - 20            # ask for a little less than fits: models overshoot
    system = prompts.system_prompt(q.topic, language, facts, room)
    api = runtime.cached("claude", lambda: claude.client(settings))   # one pool per worker: no TLS setup per job
    try:
        reply = await claude.ask(api, settings, system, prompts.conversation(earlier, q.question))
    except claude.AdvisorUnavailable as exc:
        return texts.apology_text(), None, str(exc)[:500]
    usage = Usage("claude", reply.model, reply.input_tokens, reply.output_tokens,
                  claude.cost_micro_usd(settings.advisor_prices, reply.input_tokens, reply.output_tokens),
                  reply.stop_reason)
    return fit(reply.text, texts.ANSWER_SEGMENTS), usage, None


def sweep_questions() -> str:
    return runtime.run(_sweep)


async def _sweep(db) -> str:
    settings = runtime.settings()
    async with db() as s:
        ids = await questions.stale(s, STALE_AFTER)
    if ids:
        queue = make_queue(settings.redis_url, settings.queue_name, ADVISOR)
        try:
            enqueue_answers(queue, ids, round_=f"sweep{int(time.time() // 60)}")
        finally:
            queue.connection.close()
        log.warning("advisor sweep dispatched %d question(s) again", len(ids))
    return f"{len(ids)} dispatched again"


