"""RENT <station> and MY RENTAL: power-bank rentals by SMS.

RENT answers with the station's terms and the way to rent: dial the service code, Charge. It never rents by
SMS, not even with a PIN in a confirm reply: a rent opens a slot of a cabinet in a public place, and an SMS
(ours or the renter's confirm) may arrive minutes late, when the renter has walked away and whoever stands at
the cabinet takes the bank on their deposit. The USSD session is live at the cabinet, shows the slot, and
its hop key makes a retry rent once; an SMS would also leave the PIN in the phone's inbox.

MY RENTAL (also RENT MY, and each language's words) shows the open rental: time used, cost so far, due time.
"""
from __future__ import annotations

from contextlib import nullcontext

from enerlectra.domain.rentals import asks, service
from enerlectra.domain.rentals.texts import terms_text
from enerlectra.domain.stations.wire import CODE
from enerlectra.i18n import _, pgettext_noop
from sms.commands.base import Command, CommandCtx, spoken

RENT_WORD = pgettext_noop("sms keyword", "RENT")
MY_WORD = pgettext_noop("sms keyword", "MY")


def rent_usage() -> str:
    return _("To rent a power bank send RENT and the station code on the cabinet, like RENT 1234. MY RENTAL "
             "shows yours.")


def rent_by_ussd(terms: str, code: str, service_code: str) -> str:
    return _("{terms} To rent, dial {dial} at the station: Charge, 1, code {code}.").format(
        terms=terms, dial=service_code, code=code)


def no_rental_text() -> str:
    return _("You have no power bank out. To rent one send RENT and the station code, like RENT 1234.")


def _this(ctx: CommandCtx):
    """The service opens `db()`; an SMS command reads inside the transaction that stores the SMS and its reply."""
    return lambda: nullcontext(ctx.db)


async def handle_rent(ctx: CommandCtx) -> str:
    words = [w.upper() for w in ctx.args]
    if words and words[0] in spoken(MY_WORD):          # RENT MY (RENTAL), KODI YANGU
        return await handle_mine(ctx)
    if len(ctx.args) != 1 or not CODE.fullmatch(ctx.args[0]):
        return rent_usage()
    code = ctx.args[0]
    try:
        tariff, view = await service.quote(_this(ctx), ctx.user, code)
    except service.RentRefused as exc:
        return asks.refusal_text(exc.code, code, exc.needed, ctx.user.currency, exc.owed)
    return rent_by_ussd(terms_text(tariff, view.name), code, ctx.settings.service_code)


async def handle_mine(ctx: CommandCtx) -> str:
    view = await service.current(_this(ctx), ctx.user)
    if view is None:
        return no_rental_text()
    return asks.rental_text(view, ctx.user.country)


RENT = Command("rent", RENT_WORD, handle_rent, needs_account=True)
MY_RENTAL = Command("myrental", MY_WORD, handle_mine, needs_account=True)          # MY RENTAL: the rest is read
