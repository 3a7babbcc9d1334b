"""ASK <question>: the AI advisor answers by SMS (a job sends it; no reply now unless refused)."""
from __future__ import annotations

from datetime import timedelta

from enerlectra.domain.advisor import bank, questions, texts
from enerlectra.i18n import pgettext_noop
from sms.commands.base import Command, CommandCtx

MIN_QUESTION = 3          # characters: "ASK" alone, or "ASK ?", gets the usage line


async def handle(ctx: CommandCtx) -> str | None:
    question = " ".join(ctx.args).strip()
    if len(question) < MIN_QUESTION:
        return texts.ask_usage()
    user, settings = ctx.user, ctx.settings
    recent = await questions.recent_topic(ctx.db, user.id, timedelta(minutes=settings.advisor_followup_minutes))
    topic = bank.choose_topic(question, user.language, recent)
    asked = await questions.ask(ctx.db, f"sms:{ctx.provider_id}", user, topic, question, "sms",
                                daily_limit=settings.advisor_daily_limit)
    if asked.question_id is None:
        return texts.limit_text(settings.advisor_daily_limit)
    return None


COMMAND = Command("ask", pgettext_noop("sms keyword", "ASK"), handle, needs_account=True)
