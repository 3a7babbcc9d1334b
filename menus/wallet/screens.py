"""Wallet screens: balances and history read the ledger; send money posts one entry with receipts."""
from __future__ import annotations

from enerlectra.db.models import User
from enerlectra.domain import ledger, statement, users, wallet
from enerlectra.domain.account_texts import received_text, sent_text
from enerlectra.domain.money import format_energy, format_money
from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from enerlectra.i18n import _
from enerlectra.ussd.types import Ctx, Redirect, Reject, Rendered, Screen
from menus.common import in_language_of, money_locked, money_pin
from menus.wallet import history as history_lines

HISTORY_LINES = 12
HISTORY_PAGE = 4


async def menu(ctx: Ctx) -> Rendered:
    async with ctx.services.reads() as s:
        bal = await wallet.balances(s, ctx.session.user_id, ctx.session.currency)
    return Screen([_("Money: {money}").format(money=format_money(bal.money, bal.currency)),
                   _("Energy: {energy}").format(energy=format_energy(bal.energy))],
                  [("1", _("History")), ("2", _("Send money"))])


async def history(ctx: Ctx) -> Rendered:
    user_id = ctx.session.user_id
    async with ctx.services.reads() as s:
        found = await statement.entries(s, user_id, ctx.session.currency, limit=HISTORY_LINES)
        waiting = await statement.waiting_payments(s, user_id)
    if not found and not waiting:
        return Screen([_("No transactions yet.")])
    return Screen([_pending_line(p) for p in waiting] + [history_lines.line(e) for e in found],
                  page_size=HISTORY_PAGE)


def _pending_line(payment: statement.Waiting) -> str:
    what = _("Deposit") if payment.direction == "collection" else _("Withdrawal")
    sign = "+" if payment.direction == "collection" else "-"
    when = payment.created_at.strftime("%d/%m") if payment.created_at else ""
    return f"{when} {what} {_('pending')} {sign}{format_money(payment.amount, payment.currency)}"


async def sendto(ctx: Ctx) -> Rendered:
    locked = await money_locked(ctx)
    if locked is not None:
        return locked
    return Screen([_("Send money to which number?")])


async def sendamount(ctx: Ctx) -> Rendered:
    data, session = ctx.session.data, ctx.session
    if ctx.text is not None:          # a number was just typed (not back from the amount screen)
        try:
            number = parse_msisdn(data.get("to", ""), session.country)
        except (InvalidMsisdn, UnsupportedCountry):
            return Reject(_("That is not a phone number. Type it like 0971234567."))
        if number.e164 == session.msisdn:
            return Reject(_("You cannot send money to yourself. Type another number."))
        recipient = await users.get_by_msisdn(ctx.services.db_read, number.e164)
        if recipient is None:
            return Reject(_("{number} is not on Enerlectra. Check the number.").format(number=data["to"]))
        if recipient.currency != session.currency:
            return Reject(_("You can only send to numbers in your country."))
        data.update(recipient_id=recipient.id, recipient_name=recipient.name, recipient_msisdn=recipient.msisdn)
    return Screen([_("Send to {name}. How much in {currency}?").format(
        name=data["recipient_name"], currency=session.currency)])


async def sendconfirm(ctx: Ctx) -> Rendered:
    data, settings = ctx.session.data, ctx.services.settings
    currency = ctx.session.currency
    amount, fee = data["amount"], settings.transfer_fee_minor
    if amount > settings.transfer_limit_minor:
        return Reject(_("The most you can send at once is {limit}.").format(
            limit=format_money(settings.transfer_limit_minor, currency)))
    async with ctx.services.db_read() as s:
        balance = (await wallet.balances(s, ctx.session.user_id, currency)).money
    if balance < amount + fee:
        return Reject(_("Not enough money: your balance is {balance}. Type a smaller amount.").format(
            balance=format_money(balance, currency)))
    shown = format_money(amount, currency)
    if fee:
        line = _("Send {amount} to {name}? Fee {fee}, total {total}. Enter your PIN to confirm:").format(
            amount=shown, name=data["recipient_name"], fee=format_money(fee, currency),
            total=format_money(amount + fee, currency))
    else:
        line = _("Send {amount} to {name}? Enter your PIN to confirm:").format(
            amount=shown, name=data["recipient_name"])
    return Screen([line])


async def senddone(ctx: Ctx) -> Rendered:
    session, data, settings = ctx.session, ctx.session.data, ctx.services.settings
    if ctx.text is None:
        return Redirect("wallet_menu")
    refused = await money_pin(ctx, step="send")
    if refused is not None:
        return refused
    async with ctx.services.db_read() as s:          # both in one read: one loop turn less per send
        me, recipient = await s.get(User, session.user_id), await s.get(User, data["recipient_id"])
    amount, fee = data["amount"], settings.transfer_fee_minor
    key = f"{ctx.hop_key}:send"      # the same hop again (even after Redis lost the session) -> posted once
    try:
        result = await wallet.transfer(ctx.services.db, key, me, recipient, amount, fee,
                                       receipts=lambda ref: (in_language_of(me, sent_text, amount, fee, recipient, ref),
                                                             in_language_of(recipient, received_text, amount, me, ref)))
    except ledger.InsufficientFunds:
        return Screen([_("Not enough money. Nothing was sent.")], end=True)
    session.data = {}
    return Screen([_("Sent {amount} to {name}. Your balance: {balance}.").format(
        amount=format_money(amount, me.currency), name=recipient.name,
        balance=format_money(result.sender_balance, me.currency))], end=True)
