"""BAL: both balances by SMS."""
from __future__ import annotations

from enerlectra.domain import wallet
from enerlectra.domain.money import format_energy, format_money
from enerlectra.i18n import _, pgettext_noop
from sms.commands.base import Command, CommandCtx


def balance_text(money: int, currency: str, energy_wh: int) -> str:
    return _("Enerlectra balance: {money}. Energy: {energy}.").format(
        money=format_money(money, currency), energy=format_energy(energy_wh))


async def handle(ctx: CommandCtx) -> str:
    bal = await wallet.balances(ctx.db, ctx.user.id, ctx.user.currency)
    return balance_text(bal.money, bal.currency, bal.energy)


COMMAND = Command("bal", pgettext_noop("sms keyword", "BAL"), handle, needs_account=True)
