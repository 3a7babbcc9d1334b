"""PIN reset screens: the new PIN is kept only as a slow-KDF hash; the reset is used once, in SQL."""
from __future__ import annotations

from enerlectra.domain import pin_resets
from enerlectra.domain.clusters.texts import when as local_when
from enerlectra.domain.pin_texts import pin_reset_done_text
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Rendered, Screen
from menus.common import confirm_pin, in_language_of, remember_first_pin


async def new(ctx: Ctx) -> Rendered:
    return Screen([_("Support reset your PIN. Choose a new 4-digit PIN.")])


async def confirm(ctx: Ctx) -> Rendered:
    await remember_first_pin(ctx)
    return Screen([_("Enter the new PIN again.")])


async def saved(ctx: Ctx) -> Rendered:
    pin_hash = await confirm_pin(ctx)
    if not isinstance(pin_hash, str):
        return pin_hash
    session, settings = ctx.session, ctx.services.settings
    done = await pin_resets.complete(ctx.services.db, session.user_id, pin_hash,
                                     hold_hours=settings.pin_reset_hold_hours,
                                     text=lambda user, until: in_language_of(user, pin_reset_done_text, until))
    session.data = {}
    if done is None:          # it expired while the user typed (or another hop used it)
        return Redirect("main_menu", flash=_("That reset has expired. Ask again: Settings > Forgot PIN."),
                        reset_history=True)
    return Redirect("main_menu", reset_history=True, flash=_("New PIN set. Money actions wait until {when}.").format(
        when=local_when(done.until, session.country)))
