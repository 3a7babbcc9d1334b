"""YES: one word, two meanings. `YES 1234` with a SELL or BUY waiting confirms it (1234 is the PIN);
`YES 12` votes for proposal #12. A ballot number wins over a waiting trade's PIN (see _names_a_ballot).
"""
from __future__ import annotations

from enerlectra.domain.clusters import proposals, texts
from enerlectra.domain.market import by_sms
from enerlectra.i18n import pgettext_noop
from sms.commands import clusters, market
from sms.commands.base import Command, CommandCtx


def _pin_shaped(args: list[str]) -> bool:
    return len(args) == 1 and len(args[0]) == 4 and args[0].isdigit()


async def _names_a_ballot(s, user, args: list[str]) -> bool:
    """Does YES n name an open proposal this member votes on? Its ballot said "YES n", so that wins over a
    waiting trade's PIN: a ballot number is never spent as a PIN try (numbers kept from before 0014 run to
    four digits)."""
    n = clusters.ballot_number(args[0]) if len(args) == 1 else None
    meant = await proposals.numbered(s, user, n) if n is not None else None
    return meant is not None and meant.state == "open" and await proposals.may_vote(s, user, meant)


async def yes_pin(s, user, args: list[str]) -> str | None:
    """`YES 1234` with a trade waiting: 1234 is the PIN (otherwise YES 12 is a vote)."""
    if not _pin_shaped(args) or await by_sms.waiting(s, user) is None or await _names_a_ballot(s, user, args):
        return None
    return args[0]


async def handle_yes(ctx: CommandCtx) -> str | None:
    pin_shaped = _pin_shaped(ctx.args)
    if await by_sms.waiting(ctx.db, ctx.user) is not None and (pin_shaped or len(ctx.args) != 1) \
            and not await _names_a_ballot(ctx.db, ctx.user, ctx.args):
        return await market.handle_yes(ctx)
    if len(ctx.args) != 1:
        return texts.vote_usage()
    n = clusters.ballot_number(ctx.args[0])
    if pin_shaped and n is not None and await proposals.numbered(ctx.db, ctx.user, n) is None:
        return market.nothing_to_confirm()       # a PIN for a trade that expired, most likely
    return await clusters.vote(ctx, ctx.args[0], "yes")


YES = Command("yes", pgettext_noop("sms keyword", "YES"), handle_yes, needs_account=True, pin=yes_pin)
