"""Onboarding screens. I/O (hashing, registration) happens here, never in rules."""
from __future__ import annotations

from enerlectra.domain import users
from enerlectra.domain.account_texts import welcome_text
from enerlectra.domain.phone import parse_msisdn
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Rendered, Screen
from menus.common import confirm_pin, language_options, remember_first_pin


async def language(ctx: Ctx) -> Rendered:
    return Screen([_("Welcome to Enerlectra. Choose your language:")], language_options())


async def name(ctx: Ctx) -> Rendered:
    return Screen([_("What is your name?")])


async def pin(ctx: Ctx) -> Rendered:
    return Screen([_("Choose a 4-digit PIN. It protects your money. Keep it secret.")])


async def pinconfirm(ctx: Ctx) -> Rendered:
    await remember_first_pin(ctx)
    return Screen([_("Enter the same PIN again.")])


async def register(ctx: Ctx) -> Rendered:
    pin_hash = await confirm_pin(ctx)
    if not isinstance(pin_hash, str):
        return pin_hash
    session = ctx.session
    user = await users.register(ctx.services.db, parse_msisdn(session.msisdn), session.data["name"],
                                session.lang, pin_hash, welcome=lambda u: welcome_text(u.name))
    session.user_id, session.name, session.lang = user.id, user.name, user.language
    session.data = {}
    return Redirect("main_menu", flash=_("Welcome, {name}!").format(name=user.name), reset_history=True)
