"""Settings screens; the database writes happen here."""
from __future__ import annotations

from enerlectra import i18n
from enerlectra.domain import meters, pin_resets, pins, users
from enerlectra.domain.clusters.texts import when as local_when
from enerlectra.domain.money import format_energy
from enerlectra.domain.pin_texts import pin_changed_text, pin_reset_asked_text
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Rendered, Screen
from menus.common import confirm_pin, in_language_of, language_options, money_pin, remember_first_pin

FORGOT_KEY = "9"          # on the PIN screen: not 4 digits, so never a PIN


async def menu(ctx: Ctx) -> Rendered:
    return Screen([_("Settings")], [("1", _("Language")), ("2", _("Change PIN")), ("3", _("My meters")),
                                    ("4", _("Trade by SMS")), ("5", _("Forgot PIN"))])


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


def _pin_changes_locked(until, country: str) -> Screen:
    return Screen([_("PIN changes are locked until {time}. Try again later.").format(
        time=pins.local_hhmm(until, country))], end=True)


async def pinold(ctx: Ctx) -> Rendered:
    return Screen([_("Enter your current PIN.")], [(FORGOT_KEY, _("Forgot PIN"))])


async def pinnew(ctx: Ctx) -> Rendered:
    data = ctx.session.data
    if ctx.text is not None:        # coming from the old-PIN screen (not back from the next one)
        refused = await money_pin(ctx, locked=_pin_changes_locked, hold=False)   # a reset's hold is for money
        if refused is not None:
            return refused
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
    await users.change_pin(ctx.services.db, ctx.session.user_id, pin_hash, key=ctx.hop_key,
                           receipt=lambda user: in_language_of(user, pin_changed_text))
    ctx.session.data = {}
    return Redirect("settings_menu", flash=_("PIN changed."), reset_history=True)


async def meter(ctx: Ctx) -> Rendered:
    """The user's meters and what each credited today; a technician registers them (no secret is ever shown)."""
    session = ctx.session
    async with ctx.services.db_read() as s:
        mine = await meters.of_user(s, session.user_id, session.country)
    if not mine:
        return Screen([_("No meter yet. A technician registers your solar meter with its serial. "
                         "Ask your installer.")])
    lines = [_("Your meters (a technician registers them):")]
    for m in mine:
        if m.last_read_at is None:
            lines.append(_("{serial}: no reading yet").format(serial=m.serial))
        else:
            lines.append(_("{serial}: read {when}, today +{energy}").format(
                serial=m.serial, when=local_when(m.last_read_at, session.country),
                energy=format_energy(m.credited_today_wh)))
    return Screen(lines)


async def smspin(ctx: Ctx) -> Rendered:
    async with ctx.services.db_read() as s:
        on = await users.preference(s, ctx.session.user_id, "sms_pin_enabled")
    line = _("Trade by SMS is on: SELL or BUY, then YES and your PIN.") if on \
        else _("Trade by SMS is off. When on: SELL or BUY, then YES and your PIN.")
    return Screen([line], [("1", _("Turn on")), ("2", _("Turn off"))])


async def smspinpin(ctx: Ctx) -> Rendered:
    return Screen([_("Enter your PIN to confirm:")])


async def smspinsaved(ctx: Ctx) -> Rendered:
    if ctx.text is None:
        return Redirect("settings_menu")
    refused = await money_pin(ctx)
    if refused is not None:
        return refused
    on = bool(ctx.session.data.pop("sms_pin", False))
    async with unit_of_work(ctx.services.db) as s:
        await users.set_preference(s, ctx.session.user_id, "sms_pin_enabled", on)
    return Redirect("settings_menu", flash=_("Trade by SMS is on.") if on else _("Trade by SMS is off."),
                    reset_history=True)


async def forgot(ctx: Ctx) -> Rendered:
    return Screen([_("Forgot your PIN? Support will call this number to check it is you, then reset it.")],
                  [("1", _("Ask for a reset"))])


async def forgotsent(ctx: Ctx) -> Rendered:
    """Record the request (once) and SMS the owner; say what happens next."""
    if ctx.text is None:
        return Redirect("settings_menu")
    asked = await pin_resets.ask(ctx.services.db, ctx.session.user_id,
                                 lambda user, until: in_language_of(user, pin_reset_asked_text))
    if asked.state == "issued":
        return Screen([_("Support has reset your PIN. Dial *123# again to choose a new one.")], end=True)
    return Screen([_("Asked. Support will call you on {number} to check it is you. Then dial *123# to choose a "
                     "new PIN.").format(number=ctx.session.msisdn)], end=True)
