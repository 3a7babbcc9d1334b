"""Advisor screens: the question is stored and handed to a worker; the screen ends at once."""
from __future__ import annotations

from enerlectra.db.models import User
from enerlectra.domain.advisor import questions, texts
from enerlectra.domain.advisor.topics import BY_KEY, TOPICS
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Rendered, Screen


async def _asked_today(ctx: Ctx) -> int:
    session = ctx.session
    async with ctx.services.db_read() as s:
        return await questions.asked_since(s, session.user_id, questions.day_start(questions.now(), session.country))


def _limit_screen(ctx: Ctx) -> Screen:
    return Screen([texts.limit_text(ctx.services.settings.advisor_daily_limit)], end=True)


async def menu(ctx: Ctx) -> Rendered:
    if await _asked_today(ctx) >= ctx.services.settings.advisor_daily_limit:
        return _limit_screen(ctx)
    return Screen([_("Ask the advisor about:")], [(str(i), str(t.title)) for i, t in enumerate(TOPICS, start=1)])


async def question(ctx: Ctx) -> Rendered:
    topic = BY_KEY[ctx.session.data["topic"]]
    return Screen([_("{topic}: type your question, or pick one:").format(topic=topic.title)],
                  [(str(i), str(q)) for i, q in enumerate(topic.common, start=1)])


async def asked(ctx: Ctx) -> Rendered:
    session, data = ctx.session, ctx.session.data
    if ctx.text is None:                      # Back from nowhere: there is nothing to show again
        return Redirect("advisor_menu")
    topic = BY_KEY[data["topic"]]
    text = str(topic.common[data["pick"]]) if "pick" in data else data["question"]
    key = f"{ctx.hop_key}:ask"     # the same hop again -> the same row
    async with unit_of_work(ctx.services.db) as s:
        user = await s.get(User, session.user_id)
        result = await questions.ask(s, key, user, topic.key, text, "ussd",
                                     daily_limit=ctx.services.settings.advisor_daily_limit)
    if result.question_id is None:
        return _limit_screen(ctx)
    session.data = {}
    return Screen([texts.will_arrive()], end=True)
