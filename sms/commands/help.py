"""HELP: the main keywords in one SMS, in the sender's language; HELP MORE: the rest (each fits one SMS)."""
from __future__ import annotations

from enerlectra import i18n
from enerlectra.i18n import _, pgettext_noop
from sms.commands.base import KEYWORD_CONTEXT, Command, CommandCtx

MORE = pgettext_noop("sms keyword", "MORE")      # HELP MORE, with its word in every language (HELP ZAIDI)


def help_text() -> str:
    return _("Enerlectra SMS: BAL balance. ASK question. PRICE market. SELL kWh price. BUY kWh. CLUSTER. JOIN "
             "code. LANG EN/BEM/NY/SW. STOP/START news. HELP MORE for more.")


def help_more_text() -> str:
    return _("More SMS: ALERT price: SMS when kWh is cheaper. VOTE 12 YES or YES 12/NO 12: vote. YES + PIN confirm "
             "SELL/BUY. CARBON: CO2. RENT code, MY RENTAL: power banks.")


def more_words() -> set[str]:
    return {MORE} | {i18n.in_language(code, MORE, KEYWORD_CONTEXT).upper() for code in i18n.LANGUAGES}


async def handle(ctx: CommandCtx) -> str:
    if ctx.args and ctx.args[0].upper().strip(".,!?") in more_words():
        return help_more_text()
    return help_text()


COMMAND = Command("help", pgettext_noop("sms keyword", "HELP"), handle)
