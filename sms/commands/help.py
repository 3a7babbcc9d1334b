"""HELP: the list of keywords, in the sender's language."""
from __future__ import annotations

from sms.commands.base import Command, CommandCtx
from ussd_app.i18n import _, pgettext_noop


def help_text() -> str:
    return _("Enerlectra SMS: HELP this list. BAL balances. ASK and a question for the advisor. LANG EN, BEM, NY "
             "or SW language. STOP no news, "
             "START news again. Dial *123# for menus.")


async def handle(ctx: CommandCtx) -> str:
    return help_text()


COMMAND = Command("help", pgettext_noop("sms keyword", "HELP"), handle)
