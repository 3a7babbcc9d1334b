"""An SMS from a number past its hourly reply budget: kept, never run, answered at most once.

The webhook decides (ussd_app/adapters/ratelimits.py `sms_verdict`); this stores the message with the
command `limited`, and, for the first one past the budget in the hour, queues one polite notice in the
same transaction. Every later one that hour is kept in silence: a flood costs us no paid SMS.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from sms.inbound import Followups, InboundSms
from ussd_app import i18n
from ussd_app.db.models import SmsInbound, User
from ussd_app.domain import outbox
from ussd_app.i18n import _

log = logging.getLogger(__name__)
COMMAND = "limited"


def too_many_text() -> str:
    return _("Too many messages. Please wait an hour before sending more.")


async def keep_unanswered(db: async_sessionmaker, sms: InboundSms, notice: bool) -> Followups:
    """Store the message without running it; with `notice`, queue the one 'too many' reply."""
    try:
        async with db() as s, s.begin():
            if await s.scalar(select(SmsInbound.id).where(SmsInbound.provider_id == sms.provider_id)):
                return Followups()
            row = None
            if notice:
                language = await s.scalar(select(User.language).where(User.msisdn == sms.number.e164))
                with i18n.language(language or sms.number.default_language):
                    row = await outbox.add(s, sms.number.e164, too_many_text(), f"reply:{COMMAND}",
                                           essential=True)
            s.add(SmsInbound(provider_id=sms.provider_id, msisdn=sms.number.e164, to_code=sms.to,
                             text=sms.text, link_id=sms.link_id, network_code=sms.network_code,
                             command=COMMAND, reply_id=row.id if row else None))
        return Followups(outbox.to_dispatch([row]))
    except IntegrityError:       # the same id arriving twice at once: the other copy stored it
        log.info("inbound SMS %s: duplicate, ignored", sms.provider_id)
        return Followups()
