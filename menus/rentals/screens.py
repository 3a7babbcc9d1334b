"""Charge screens: the rental service (enerlectra/domain/rentals/service.py) decides, these ask and show.

Every money step (rent, extend, lost) takes the PIN the money screens use and a key from the hop
(`ctx.hop_key`: what the aggregator resends), never from Redis, so a retry rents or charges once."""
from __future__ import annotations

import logging

from enerlectra.db.models import User
from enerlectra.domain.money import format_money
from enerlectra.domain.rentals import asks, service
from enerlectra.domain.rentals.billing import hours_price
from enerlectra.domain.rentals.tariff import NoTariff, tariff_for
from enerlectra.domain.rentals.texts import owed_terms_text, station_label, terms_text
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Reject, Rendered, Screen
from menus.common import money_locked, money_pin
from menus.money import screens as money
from payments import routing
from payments.service import OverLimit

log = logging.getLogger(__name__)

EJECT_WAIT = 3.0           # seconds the rent screen waits for the slot to open (the hop must answer in time)
FOUND = 5                  # stations listed by "Find a station"


async def _me(ctx: Ctx) -> User:
    async with ctx.services.db_read() as s:
        return await s.get(User, ctx.session.user_id)


async def _unsent(command) -> None:
    """No station link in this process: the eject stays pending, goes unknown, and the inventory decides."""
    log.warning("no station publisher: %s not sent", getattr(command, "topic", command))


def _refused(exc: service.RentRefused, ctx: Ctx) -> Screen:
    return Screen([asks.refusal_text(exc.code, exc.station, exc.needed, ctx.session.currency, exc.owed)], end=True)


async def menu(ctx: Ctx) -> Rendered:
    return Screen([_("Charge your phone: rent a power bank at a station, return it at any station.")],
                  [("1", _("Rent a power bank")), ("2", _("My rental")), ("3", _("Find a station"))])


# -- rent ----------------------------------------------------------------------------------------

async def station(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    recent = await service.recent_stations(ctx.services.db_read, await _me(ctx))
    ctx.session.data["recent"] = [v.code for v in recent]
    return Screen([_("Type the station code printed on the cabinet:") if not recent else
                   _("Type the station code printed on the cabinet, or pick:")],
                  [(str(i), f"{v.code} {station_label(v.name)}") for i, v in enumerate(recent, start=1)])


async def terms(ctx: Ctx) -> Rendered:
    code = ctx.session.data["station"]
    me = await _me(ctx)
    try:
        tariff, view = await service.quote(ctx.services.db_read, me, code)
    except service.RentRefused as exc:
        if exc.code == "unknown_station":      # a typo: type it again
            return Reject(asks.refusal_text(exc.code, code, 0, ctx.session.currency))
        if exc.code == "open_rental" and ctx.walking:
            # A rent's PIN hop walked again after Redis lost the session: its own rental is the open one. Walk
            # on to the PIN step, which replays only what this hop's key did (menus.common.money_step_refused).
            return Screen([terms_text(tariff_for(ctx.services.settings, ctx.session.currency), code)],
                          [("1", _("Rent"))])
        if exc.code in ("short", "owed") and money.provider(ctx) is not None:     # a network we collect from
            return _top_up_offer(ctx, exc)
        return _refused(exc, ctx)
    ctx.session.data.pop("topup", None)
    owed = await service.owed(ctx.services.db_read, me)
    return Screen([owed_terms_text(tariff, view.name, owed) if owed else terms_text(tariff, view.name)],
                  [("1", _("Rent"))])


def _top_up_offer(ctx: Ctx, exc: service.RentRefused) -> Screen:
    """The wallet is short of the deposit (and of what the renter owes): offer the mobile-money deposit of what
    is missing right here."""
    currency, needed = ctx.session.currency, exc.needed
    most = ctx.services.payments.limits.payment(currency)
    # More than one payment may move when the deposit passes this currency's limit (PAYMENT_LIMITS_MINOR): top up
    # the most now, and the next dial offers the rest.
    ctx.session.data["topup"] = min(routing.top_up_amount(needed, currency), most - most % 100)
    said = asks.refusal_text(exc.code, exc.station, needed, currency, exc.owed) if exc.code == "owed" else \
        _("The deposit needs {amount} more in your wallet.").format(amount=format_money(needed, currency))
    return Screen([said], [("1", _("Top up {amount}").format(amount=format_money(ctx.session.data["topup"], currency)))])


async def topup(ctx: Ctx) -> Rendered:
    """The deposit's own confirm screen (provider from the number's network, fee, total), amount prefilled."""
    ctx.session.data["amount"] = ctx.session.data["topup"]
    try:            # the amount is ours, not typed: past a limit there is no smaller one to ask for
        await ctx.services.payments.check_limits(ctx.session.user_id, "collection", ctx.session.data["amount"],
                                                 ctx.session.currency)
    except OverLimit:
        return Screen([_("That passes today's limit. Nothing was started.")], end=True)
    return await money.depconfirm(ctx)


async def topupdone(ctx: Ctx) -> Rendered:
    if ctx.text is None:                     # resumed after a drop: start from the menu, never ask twice
        return Redirect("charge_menu")
    refused = await money.start_deposit(ctx, purpose=f"rent:{ctx.session.data['station']}")
    if refused is not None:
        return refused
    amount = format_money(ctx.session.data["amount"], ctx.session.currency)
    ctx.session.data = {}
    return Screen([_("Approve the prompt on your phone to pay {amount}. Once paid, dial again to rent.").format(
        amount=amount)], end=True)


async def pin(ctx: Ctx) -> Rendered:
    return Screen([_("Enter your PIN to rent a power bank at station {code}:").format(
        code=ctx.session.data["station"])])


async def rented(ctx: Ctx) -> Rendered:
    refused = await money_pin(ctx, step="rent")
    if refused is not None:
        return refused
    publish = ctx.services.publish or _unsent
    try:
        view = await service.rent(ctx.services.db, await _me(ctx), ctx.session.data["station"],
                                  key=f"{ctx.hop_key}:rent", publish=publish)
    except service.RentRefused as exc:
        return _refused(exc, ctx)
    if view.eject_state == "pending":
        view = await service.wait_for_eject(ctx.services.db_read, view.ref, EJECT_WAIT)
    ctx.session.data = {}
    return Screen([asks.eject_text(view, ctx.session.country)], end=True)


# -- my rental: extend, report lost ----------------------------------------------------------------

async def _current(ctx: Ctx):
    return await service.current(ctx.services.db_read, await _me(ctx))


def _none() -> Screen:
    return Screen([_("You have no power bank out. To rent one: Charge, 1.")])


async def mine(ctx: Ctx) -> Rendered:
    view = await _current(ctx)
    if view is None:
        return _none()
    if view.state != "active":               # still ejecting: nothing to extend or lose yet
        return Screen([asks.rental_text(view, ctx.session.country)])
    return Screen([asks.rental_text(view, ctx.session.country)], [("1", _("Extend")), ("2", _("Report lost"))])


async def _active(ctx: Ctx):
    """The active rental and its tariff, or a Redirect back to My rental saying why not."""
    view = await _current(ctx)
    if view is None or view.state != "active":
        return None, Redirect("charge_mine")
    try:
        return (view, tariff_for(ctx.services.settings, view.currency)), None
    except NoTariff:
        return None, Redirect("charge_mine")


async def hours(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    found, away = await _active(ctx)
    if away is not None:
        return away
    view, tariff = found
    return Screen([_("Extend by how many hours? 1 to {most}, {price} an hour. Due now {due}.").format(
        most=tariff.max_extension_hours, price=format_money(tariff.per_hour, tariff.currency),
        due=asks.due_text(view, ctx.session.country))])


async def extendpin(ctx: Ctx) -> Rendered:
    found, away = await _active(ctx)
    if away is not None:
        return away
    view, tariff = found
    wanted = ctx.session.data["hours"]
    if wanted > tariff.max_extension_hours:
        return Reject(_("At most {most} hours. Type fewer.").format(most=tariff.max_extension_hours))
    return Screen([_("Extend {ref} by {hours} h for {price} from your wallet? Enter your PIN:").format(
        ref=view.ref, hours=wanted, price=format_money(hours_price(tariff, wanted), tariff.currency))])


async def extended(ctx: Ctx) -> Rendered:
    refused = await money_pin(ctx, step="extend")
    if refused is not None:
        return refused
    try:
        view = await service.extend(ctx.services.db, await _me(ctx), ctx.session.data["hours"],
                                    key=f"{ctx.hop_key}:extend")
    except service.ExtendRefused as exc:
        return Screen([_extension_refused(exc.code, exc.needed, ctx.session.currency)], end=True)
    except service.NoOpenRental:
        return Screen([_("You have no power bank out. Nothing was charged.")], end=True)
    ctx.session.data = {}
    return Screen([_("Extended. {ref} is now due {due}.").format(
        ref=view.ref, due=asks.due_text(view, ctx.session.country))], end=True)


def _extension_refused(rule: str, needed: int, currency: str) -> str:
    if rule == "late":
        return _("Late fees have started: it cannot be extended now. Return it at any station.")
    if rule == "short":
        return _("Your wallet needs {amount} more. Nothing was charged: top up first (Mobile money, 1).").format(
            amount=format_money(needed, currency))
    return _("That extension is not possible. Nothing was charged.")


async def lost(ctx: Ctx) -> Rendered:
    found, away = await _active(ctx)
    if away is not None:
        return away
    view, tariff = found
    return Screen([_("Report {ref} lost? You pay {price} in all: the deposit {deposit} is kept, the rest comes "
                     "from your wallet.").format(ref=view.ref, price=format_money(tariff.device_price, view.currency),
                                                 deposit=format_money(view.deposit, view.currency))],
                  [("1", _("Yes, it is lost"))])


async def lostpin(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    return Screen([_("Enter your PIN to report the power bank lost:")])


async def lostdone(ctx: Ctx) -> Rendered:
    refused = await money_pin(ctx, step="lost")
    if refused is not None:
        return refused
    try:
        view = await service.report_lost(ctx.services.db, await _me(ctx), key=f"{ctx.hop_key}:lost")
    except service.NoOpenRental:
        return Screen([_("You have no power bank out. Nothing was charged.")], end=True)
    ctx.session.data = {}
    return Screen([_("Reported lost: {ref} is closed, charged {cost}. An SMS has the details.").format(
        ref=view.ref, cost=format_money(view.cost_so_far, view.currency))], end=True)


# -- find a station ------------------------------------------------------------------------------

async def area(ctx: Ctx) -> Rendered:
    return Screen([_("Type an area name, like Kabwata:")])


async def found(ctx: Ctx) -> Rendered:
    place = ctx.session.data["area"]
    stations = await service.find_stations(ctx.services.db_read, place, limit=FOUND)
    if not stations:
        return Reject(_("No station with a charged power bank in {area} now. Try another area.").format(
            area=place[:20]))
    return Screen([_("Stations in {area}:").format(area=place[:20])] +
                  [_("{code} {name}: {banks} to rent, {slots} free to return").format(
                      code=v.code, name=station_label(v.name), banks=v.free_banks, slots=v.free_slots)
                   for v in stations])
