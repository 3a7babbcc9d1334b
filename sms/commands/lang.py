"""LANG <code>: switch the language of screens and SMS."""
from __future__ import annotations

from enerlectra import i18n
from enerlectra.domain import users
from enerlectra.i18n import _, pgettext_noop
from sms.commands.base import Command, CommandCtx

# What people type after LANG -> our language code.
CHOICES = {"EN": "en", "ENGLISH": "en", "BEM": "bem", "BEMBA": "bem", "ICHIBEMBA": "bem", "NY": "nya",
           "NYA": "nya", "NYANJA": "nya", "CHINYANJA": "nya", "SW": "sw", "SWAHILI": "sw", "KISWAHILI": "sw"}


def usage() -> str:
    return _("To change language send LANG and a code: LANG EN, LANG BEM, LANG NY or LANG SW.")


def done(name: str) -> str:
    return _("Language changed to {language}.").format(language=name)


async def handle(ctx: CommandCtx) -> str:
    code = CHOICES.get(ctx.args[0].upper()) if len(ctx.args) == 1 else None
    if code is None:
        return usage()
    await users.set_preference(ctx.db, ctx.user.id, "language", code)
    i18n.use(code)                # the confirmation speaks the new language
    return done(i18n.LANGUAGES[code])


COMMAND = Command("lang", pgettext_noop("sms keyword", "LANG"), handle, needs_account=True)
