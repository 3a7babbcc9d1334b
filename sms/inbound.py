"""An SMS from a user: claimed once per aggregator id (stored, any PIN masked), then run and answered through the
outbox in one unit of work (its reply, receipts, questions and payouts go to the workers after the commit)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra import i18n
from enerlectra.db.models import SmsInbound, User
from enerlectra.domain import outbox, pins
from enerlectra.domain.phone import Msisdn
from enerlectra.domain.pin_texts import pin_lock_text
from enerlectra.domain.pins import PinCheck
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _
from enerlectra.settings import Settings
from sms.commands import CommandCtx, parse
from sms.masking import stored_text

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


async def claim(db: async_sessionmaker, sms: InboundSms, command: str) -> bool:
    """Store the message once, before anything runs (its provider id is unique; a PIN in it masked): False when
    another copy got there first (the aggregator's retry, or the same SMS twice at once), which must do nothing,
    not even spend a PIN try."""
    try:
        async with db() as s, s.begin():
            s.add(SmsInbound(provider_id=sms.provider_id, msisdn=sms.number.e164, to_code=sms.to,
                             text=stored_text(sms.text), link_id=sms.link_id, network_code=sms.network_code,
                             command=command))
        return True
    except IntegrityError:
        log.info("inbound SMS %s: duplicate, ignored", sms.provider_id)
        return False


async def unclaim(db: async_sessionmaker, sms: InboundSms) -> None:
    """The command failed before answering: forget the message so the aggregator's retry runs it again."""
    async with db() as s, s.begin():
        await s.execute(delete(SmsInbound).where(SmsInbound.provider_id == sms.provider_id,
                                                 SmsInbound.reply_id.is_(None)))


async def answered(s, sms: InboundSms, row) -> None:
    """Link the stored message to its reply (None: no reply now)."""
    if row is not None:
        await s.execute(update(SmsInbound).where(SmsInbound.provider_id == sms.provider_id).values(reply_id=row.id))


async def _check_pin(db: async_sessionmaker, sms: InboundSms, settings: Settings) -> PinCheck | None:
    """A message that carries a money PIN (`YES 1234` with a trade waiting) has it checked here, before the
    command's transaction: a reserved try, the slow KDF outside any write lock, the lock SMS queued once."""
    command, args = parse(sms.text)
    if command is None or command.pin is None:
        return None
    async with db() as s:
        user = await s.scalar(select(User).where(User.msisdn == sms.number.e164))
        pin = await command.pin(s, user, args) if user is not None else None
    if pin is None:
        return None
    return await pins.check(db, user.id, pin, max_failures=settings.pin_max_failures,
                            lock_minutes=settings.pin_lock_minutes, cost=settings.pin_kdf_cost,
                            lock_sms=lambda u, until: i18n.in_language_of(u, pin_lock_text, until))


async def receive(db: async_sessionmaker, sms: InboundSms, settings: Settings) -> None:
    """Run the command and queue its reply, once per provider id."""
    command, args = parse(sms.text)
    if not await claim(db, sms, command.name if command else "unknown"):
        return
    try:
        checked = await _check_pin(db, sms, settings)
        async with unit_of_work(db) as s:
            user = await s.scalar(select(User).where(User.msisdn == sms.number.e164))
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
            await answered(s, sms, row)
    except Exception:
        await unclaim(db, sms)
        raise
