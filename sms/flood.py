"""An SMS from a number past its hourly reply budget: kept, never run, answered at most once.

The webhook decides (ussd_app/adapters/ratelimits.py `sms_verdict`); this stores the message with the
command `limited` (claimed once, like every inbound SMS, any PIN masked), and, for the first one past the
budget in the hour, queues one polite notice. Every later one that hour is kept in silence: a flood costs us no
paid SMS.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra import i18n
from enerlectra.db.models import User
from enerlectra.domain import outbox
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _
from sms.inbound import InboundSms, answered, claim

COMMAND = "limited"


def too_many_text() -> str:
    return _("Too many messages. Please wait an hour before sending more.")


async def keep_unanswered(db: async_sessionmaker, sms: InboundSms, notice: bool) -> None:
    """Store the message without running it; with `notice`, queue the one 'too many' reply."""
    if not await claim(db, sms, COMMAND) or not notice:
        return
    async with unit_of_work(db) as s:
        language = await s.scalar(select(User.language).where(User.msisdn == sms.number.e164))
        with i18n.language(language or sms.number.default_language):
            row = await outbox.add(s, sms.number.e164, too_many_text(), f"reply:{COMMAND}", essential=True)
        await answered(s, sms, row)
