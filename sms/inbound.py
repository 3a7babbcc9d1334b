"""An SMS from a user: stored once per aggregator id, answered through the outbox in one transaction."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from sms.commands import CommandCtx, parse
from sms.masking import stored_text
from ussd_app import i18n
from ussd_app.db.models import SmsInbound, User
from ussd_app.domain import outbox, pins
from ussd_app.domain.pins import PinCheck
from ussd_app.domain.phone import Msisdn
from ussd_app.i18n import _
from ussd_app.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundSms:
    provider_id: str
    number: Msisdn
    text: str
    to: str = ""
    link_id: str | None = None
    network_code: str = ""


def unknown_text() -> str:
    return _("Sorry, we did not understand. Send HELP for the list of commands.")


def join_first_text() -> str:
    return _("Dial *123# to join Enerlectra first, then try again.")


@dataclass(frozen=True)
class Followups:
    """What to hand to the workers once the inbound SMS is committed."""

    sms: list[tuple[int, int]] = field(default_factory=list)      # outbox rows
    questions: list[int] = field(default_factory=list)           # advisor questions
    payouts: list[int] = field(default_factory=list)             # passed proposals to pay


async def _check_pin(db: async_sessionmaker, sms: InboundSms, settings: Settings) -> PinCheck | None:
    """A message that carries a money PIN (`YES 1234` with a trade waiting) has it checked here, before the
    command's transaction: a reserved try, the slow KDF outside any write lock, the lock SMS queued once."""
    from sms.templates import pin_lock_text       # templates lists every command's texts: import late

    command, args = parse(sms.text)
    if command is None or command.pin is None:
        return None
    async with db() as s:
        if await s.scalar(select(SmsInbound.id).where(SmsInbound.provider_id == sms.provider_id)):
            return None                                   # a repeat: answered already, no second try spent
        user = await s.scalar(select(User).where(User.msisdn == sms.number.e164))
        pin = await command.pin(s, user, args) if user is not None else None
    if pin is None:
        return None
    return await pins.check(db, user.id, pin, max_failures=settings.pin_max_failures,
                            lock_minutes=settings.pin_lock_minutes,
                            lock_sms=lambda u, until: i18n.in_language_of(u, pin_lock_text, until))


async def receive(db: async_sessionmaker, sms: InboundSms, settings: Settings) -> Followups:
    """Run the command and queue its reply. A repeated provider id does nothing."""
    checked = await _check_pin(db, sms, settings)
    locked = list(checked.dispatch) if checked is not None else []
    try:
        async with db() as s, s.begin():
            if await s.scalar(select(SmsInbound.id).where(SmsInbound.provider_id == sms.provider_id)):
                return Followups(locked)
            user = await s.scalar(select(User).where(User.msisdn == sms.number.e164))
            command, args = parse(sms.text)
            ctx = CommandCtx(s, sms.number, user, args, settings, sms.provider_id, pin_check=checked)
            with i18n.language(user.language if user else sms.number.default_language):
                if command is None:
                    reply = unknown_text()
                elif command.needs_account and user is None:
                    reply = join_first_text()
                else:
                    reply = await command.handler(ctx)
            row = None if reply is None else await outbox.add(
                s, sms.number.e164, reply, f"reply:{command.name if command else 'unknown'}",
                essential=True)   # an answer to the user's own message always goes out
            s.add(SmsInbound(provider_id=sms.provider_id, msisdn=sms.number.e164, to_code=sms.to,
                             text=stored_text(sms.text),       # a PIN (YES 1234) stored as ****
                             link_id=sms.link_id, network_code=sms.network_code,
                             command=command.name if command else "unknown", reply_id=row.id if row else None))
        return Followups(outbox.to_dispatch([row]) + ctx.dispatch + locked, ctx.questions, ctx.payouts)
    except IntegrityError:       # the same id arriving twice at once: the other copy answered
        log.info("inbound SMS %s: duplicate, ignored", sms.provider_id)
        return Followups(locked)
