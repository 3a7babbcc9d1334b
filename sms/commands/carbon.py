"""CARBON: the solar energy the user delivered and the CO2 it avoided, all time and this month, in one SMS."""
from __future__ import annotations

from datetime import datetime, timezone

from enerlectra.domain.clusters.texts import baseline_word
from enerlectra.domain.money import format_energy
from enerlectra.i18n import _, pgettext_noop
from enerlectra.reports import carbon
from sms.commands.base import Command, CommandCtx


def carbon_text(ever: carbon.Avoided, month: carbon.Avoided) -> str:
    return _("Enerlectra: you delivered {kwh} of solar power, {co2} CO2 avoided ({baseline}). This month: {kwh_m}, "
             "{co2_m}.").format(kwh=format_energy(ever.wh), co2=carbon.format_co2(ever.grams),
                                baseline=baseline_word(ever.baseline), kwh_m=format_energy(month.wh),
                                co2_m=carbon.format_co2(month.grams))


async def handle(ctx: CommandCtx) -> str:
    factors = carbon.Factors.from_settings(ctx.settings)
    since = carbon.month_start(datetime.now(timezone.utc), ctx.user.country)
    ever = await carbon.of_user(ctx.db, factors, ctx.user)
    month = await carbon.of_user(ctx.db, factors, ctx.user, carbon.Period(since=since))
    return carbon_text(ever, month)


COMMAND = Command("carbon", pgettext_noop("sms keyword", "CARBON"), handle, needs_account=True)
