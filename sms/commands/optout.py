"""STOP / START: opt out of and back into non-essential SMS (money receipts still go out)."""
from __future__ import annotations

from enerlectra.domain import users
from enerlectra.i18n import _, pgettext_noop
from sms.commands.base import Command, CommandCtx


def stopped() -> str:
    return _("You will get no more news SMS. Receipts for money still come. Send START to get news again.")


def started() -> str:
    return _("News SMS are on again. Send STOP to turn them off.")


async def _set(ctx: CommandCtx, opt_out: bool) -> None:
    await users.set_preference(ctx.db, ctx.user.id, "sms_opt_out", opt_out)


async def handle_stop(ctx: CommandCtx) -> str:
    await _set(ctx, True)
    return stopped()


async def handle_start(ctx: CommandCtx) -> str:
    await _set(ctx, False)
    return started()


STOP = Command("stop", pgettext_noop("sms keyword", "STOP"), handle_stop, needs_account=True)
START = Command("start", pgettext_noop("sms keyword", "START"), handle_start, needs_account=True)
