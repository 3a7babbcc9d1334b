"""Mobile money screens: deposit (fee and total, then approve on the phone) and withdraw (fee, PIN)."""
from __future__ import annotations

import uuid

from enerlectra import faults
from enerlectra.db.models import User
from enerlectra.domain import ledger, wallet
from enerlectra.domain.money import format_money
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Reject, Rendered, Screen
from menus.common import money_locked, money_pin, money_step_refused
from payments import routing
from payments.providers.base import COLLECTION
from payments.service import NotServed, OverLimit


def _payable(ctx: Ctx, amount: int) -> Reject | None:
    """Tanzanian mobile money moves whole shillings only."""
    if not routing.payable(amount, ctx.session.currency):
        return Reject(_("Type whole shillings, without cents."))
    return None


def _wallet(ctx: Ctx) -> str:
    """The mobile-money number in use: the phone's own unless the user picked another they hold."""
    return ctx.session.data.get("wallet") or ctx.session.msisdn


def _provider(ctx: Ctx, direction: str = COLLECTION) -> str | None:
    """Who carries the money for this wallet and direction (Tanzania: AzamPay in, pawaPay out)."""
    return ctx.services.payments.provider_for(_wallet(ctx), direction) if ctx.services.payments else None


def _show_number(msisdn: str, country: str) -> str:
    return "0" + msisdn[4:] if msisdn.startswith(("+260", "+255")) else msisdn


provider = _provider          # for the features that start a deposit of their own (the rental's top-up)


def _not_served() -> Screen:
    return Screen([_("Mobile money for your network is not connected yet. Your wallet still works for "
                     "sending money.")], end=True)


async def menu(ctx: Ctx) -> Rendered:
    name = _provider(ctx)
    if name is None:
        if "wallet" in ctx.session.data:          # a number they typed: let them type another
            ctx.session.data.pop("wallet")
            return Reject(_("That number has no mobile money we reach. Type another."))
        return Screen([_("Mobile money for your network is not connected yet.")],
                      [("3", _("Use another number"))])
    shown = f"{routing.wallet_name(_wallet(ctx))} {_show_number(_wallet(ctx), ctx.session.country)}"
    return Screen([shown], [("1", _("Deposit")), ("2", _("Withdraw")), ("3", _("Use another number"))])


async def pick_wallet(ctx: Ctx) -> Rendered:
    return Screen([_("Which mobile money number of yours? Type it, like 0961234567.")])


async def depamount(ctx: Ctx) -> Rendered:
    return Screen([_("Deposit how much in {currency}?").format(currency=ctx.session.currency)])


async def _over_limit(ctx: Ctx, direction: str, amount: int) -> Reject | None:
    try:
        await ctx.services.payments.check_limits(ctx.session.user_id, direction, amount, ctx.session.currency)
    except OverLimit as exc:
        limit = format_money(exc.limit, ctx.session.currency)
        if exc.which == "payment":
            return Reject(_("The most at once is {limit}. Type a smaller amount.").format(limit=limit))
        return Reject(_("That passes today's limit of {limit}. Type a smaller amount.").format(limit=limit))
    return None


async def _terms(ctx: Ctx, direction: str) -> tuple[int, int] | Rendered:
    """(amount, fee) for the amount typed, or the screen that refuses it."""
    name, amount = _provider(ctx, direction), ctx.session.data["amount"]
    if name is None:
        return _not_served()
    refused = _payable(ctx, amount) or await _over_limit(ctx, direction, amount)
    return refused or (amount, ctx.services.payments.fee(name, direction))


async def depconfirm(ctx: Ctx) -> Rendered:
    terms = await _terms(ctx, "collection")
    if not isinstance(terms, tuple):
        return terms
    (amount, fee), currency = terms, ctx.session.currency
    return Screen([_("Deposit {amount} from {provider} {number}. Fee {fee}, total {total}.").format(
        amount=format_money(amount, currency), provider=routing.wallet_name(_wallet(ctx)),
        number=_show_number(_wallet(ctx), ctx.session.country),
        fee=format_money(fee, currency), total=format_money(amount + fee, currency))], [("1", _("Confirm"))])


def _payment_key(ctx: Ctx) -> str:
    """What the aggregator resends for this hop (the planted defect: a fresh key each time the hop runs)."""
    return uuid.uuid4().hex if faults.on("payment_key_from_redis") else ctx.hop_key


async def start_deposit(ctx: Ctx, purpose: str | None = None) -> Screen | None:
    """Ask the provider to collect session.data["amount"] (the prompt on the phone); None when asked, else the
    END screen saying why not. Keyed by the hop: a retry asks once. Other features' top-ups use it too."""
    moved = await money_step_refused(ctx, "payment")
    if moved is not None:
        return moved
    async with ctx.services.db_read() as s:
        me = await s.get(User, ctx.session.user_id)
    try:
        await ctx.services.payments.deposit(me, ctx.session.data["amount"], _wallet(ctx), key=_payment_key(ctx),
                                            purpose=purpose)
    except NotServed:
        return _not_served()
    except OverLimit:
        return Screen([_("That passes today's limit. Nothing was started.")], end=True)
    return None


async def depdone(ctx: Ctx) -> Rendered:
    if ctx.text is None:
        return Redirect("money_menu")
    return await start_deposit(ctx) or Screen(
        [_("Approve the prompt on your phone to pay. Your wallet is credited when it is paid.")], end=True)


async def wdamount(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    return Screen([_("Withdraw how much in {currency}?").format(currency=ctx.session.currency)])


async def wdconfirm(ctx: Ctx) -> Rendered:
    terms = await _terms(ctx, "payout")
    if not isinstance(terms, tuple):
        return terms
    (amount, fee), currency = terms, ctx.session.currency
    async with ctx.services.db_read() as s:
        balance = (await wallet.balances(s, ctx.session.user_id, currency)).money
    if balance < amount + fee:
        return Reject(_("Not enough money: your balance is {balance}. Type a smaller amount.").format(
            balance=format_money(balance, currency)))
    return Screen([_("Withdraw {amount} to {provider} {number}. Fee {fee}, total {total}. Enter your PIN:").format(
        amount=format_money(amount, currency), provider=routing.wallet_name(_wallet(ctx)),
        number=_show_number(_wallet(ctx), ctx.session.country),
        fee=format_money(fee, currency), total=format_money(amount + fee, currency))])


async def wddone(ctx: Ctx) -> Rendered:
    session = ctx.session
    if ctx.text is None:
        return Redirect("money_menu")
    refused = await money_pin(ctx, step="payment")
    if refused is not None:
        return refused
    async with ctx.services.db_read() as s:
        me = await s.get(User, session.user_id)
    try:
        started = await ctx.services.payments.withdraw(me, session.data["amount"], _wallet(ctx),
                                                        key=_payment_key(ctx))
    except NotServed:
        return _not_served()
    except OverLimit:
        return Screen([_("That passes today's limit. Nothing was started.")], end=True)
    except ledger.InsufficientFunds:
        return Screen([_("Not enough money. Nothing was sent.")], end=True)
    return Screen([_("Your withdrawal of {amount} is on its way. You will get an SMS.").format(
        amount=format_money(started.amount, me.currency))], end=True)     # a repeat: the first one's amount
