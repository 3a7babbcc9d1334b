"""Settings screens; the database writes happen here."""
from __future__ import annotations

from menus.common import confirm_pin, in_language_of, language_options, remember_first_pin
from ussd_app import i18n
from sms.templates import pin_lock_text
from ussd_app.domain import pins, users
from ussd_app.engine.types import Ctx, Redirect, Reject, Rendered, Screen
from ussd_app.i18n import _


async def menu(ctx: Ctx) -> Rendered:
    return Screen([_("Settings")], [("1", _("Language")), ("2", _("Change PIN"))])


async def language(ctx: Ctx) -> Rendered:
    current = i18n.LANGUAGES[ctx.session.lang]
    return Screen([_("Language now: {language}").format(language=current)], language_options())


async def langsaved(ctx: Ctx) -> Rendered:
    session = ctx.session
    new = session.data.pop("new_lang", session.lang)
    await users.set_language(ctx.services.db, session.user_id, new)
    session.lang = new
    i18n.use(new)
    return Redirect("settings_menu", flash=_("Language changed."))


async def pinold(ctx: Ctx) -> Rendered:
    return Screen([_("Enter your current PIN.")])


async def pinnew(ctx: Ctx) -> Rendered:
    data, settings = ctx.session.data, ctx.services.settings
    if ctx.text is not None:        # coming from the old-PIN screen (not back from the next one)
        checked = await pins.check(ctx.services.db, ctx.session.user_id, ctx.text.strip(),
                                   max_failures=settings.pin_max_failures, lock_minutes=settings.pin_lock_minutes,
                                   lock_sms=lambda user, until: in_language_of(user, pin_lock_text, until))
        await ctx.services.dispatch(list(checked.dispatch))
        if checked.locked_until is not None:
            return Screen([_("PIN changes are locked until {time}. Try again later.").format(
                time=pins.local_hhmm(checked.locked_until, ctx.session.country))], end=True)
        if not checked.ok:
            return Reject(_("Wrong PIN. {count} tries left.").format(count=checked.tries_left))
        data["old_pin_ok"] = True
    if not data.get("old_pin_ok"):
        return Redirect("settings_pinold")
    return Screen([_("Choose a new 4-digit PIN.")])


async def pinconfirm(ctx: Ctx) -> Rendered:
    await remember_first_pin(ctx)
    return Screen([_("Enter the new PIN again.")])


async def pinsaved(ctx: Ctx) -> Rendered:
    pin_hash = await confirm_pin(ctx)
    if not isinstance(pin_hash, str):
        return pin_hash
    await users.change_pin(ctx.services.db, ctx.session.user_id, pin_hash)
    ctx.session.data = {}
    return Redirect("settings_menu", flash=_("PIN changed."), reset_history=True)
