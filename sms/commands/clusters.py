"""Cluster keywords: JOIN <code>, CLUSTER (the summary), and votes: YES 12 / NO 12 / VOTE 12 YES.

YES also confirms a SELL or BUY by SMS (`YES 1234`): with a trade waiting and four digits, it is the PIN.
"""
from __future__ import annotations

from sms.commands import market
from sms.commands.base import Command, CommandCtx
from enerlectra.db.models import Proposal
from enerlectra.domain import pin_resets
from enerlectra.domain.clusters import members, proposals, texts
from enerlectra.domain.market import by_sms
from enerlectra.i18n import pgettext_noop


async def handle_join(ctx: CommandCtx) -> str | None:
    if len(ctx.args) != 1:
        return texts.join_usage()
    try:
        joined = await members.join(ctx.db, ctx.user, ctx.args[0])
    except members.ClusterError as exc:
        return texts.refusal(exc.reason, ctx.args[0].upper())
    ctx.dispatch += joined.dispatch
    return None if joined.proposal_number is None else texts.put_to_vote(joined.cluster, joined.proposal_number)


async def handle_cluster(ctx: CommandCtx) -> str:
    found = await members.membership_of(ctx.db, ctx.user.id)
    if found is None:
        return texts.refusal("not_member")
    cluster, membership = found
    return texts.summary(cluster, await members.pool_balance(ctx.db, cluster),
                         await members.count_members(ctx.db, cluster.id), membership.contributed)


def _number(word: str) -> int | None:
    word = word.lstrip("#")
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 9 else None


async def _vote(ctx: CommandCtx, word: str, choice: str) -> str:
    n = _number(word)
    if n is None:
        return texts.vote_usage()
    meant = await proposals.numbered(ctx.db, ctx.user, n)
    if meant is None:
        return texts.vote_reply("unknown", n, choice, "")
    result = await proposals.vote(ctx.db, ctx.user, meant.id, choice)
    if result.status == "held":
        return pin_resets.held_text(result.held_until, ctx.user.country)
    ctx.dispatch += result.dispatch
    ctx.payouts += result.to_pay
    proposal: Proposal | None = result.proposal
    deadline = texts.when(proposal.deadline, ctx.user.country) if proposal else ""
    return texts.vote_reply(result.status, n, choice, deadline, proposal, result.decided)


def _pin_shaped(args: list[str]) -> bool:
    return len(args) == 1 and len(args[0]) == 4 and args[0].isdigit()


async def _a_ballot(s, user, args: list[str]) -> bool:
    """Does YES n name an open proposal this member votes on? Its ballot said "YES n", so that wins over a
    waiting trade's PIN: a ballot number is never spent as a PIN try (numbers kept from before 0014 run to
    four digits)."""
    n = _number(args[0]) if len(args) == 1 else None
    meant = await proposals.numbered(s, user, n) if n is not None else None
    return meant is not None and meant.state == "open" and await proposals.may_vote(s, user, meant)


async def yes_pin(s, user, args: list[str]) -> str | None:
    """`YES 1234` with a trade waiting: 1234 is the PIN (otherwise YES 12 is a vote)."""
    if not _pin_shaped(args) or await by_sms.waiting(s, user) is None or await _a_ballot(s, user, args):
        return None
    return args[0]


async def handle_yes(ctx: CommandCtx) -> str | None:
    pin_shaped = _pin_shaped(ctx.args)
    if await by_sms.waiting(ctx.db, ctx.user) is not None and (pin_shaped or len(ctx.args) != 1) \
            and not await _a_ballot(ctx.db, ctx.user, ctx.args):
        return await market.handle_yes(ctx)
    if len(ctx.args) != 1:
        return texts.vote_usage()
    n = _number(ctx.args[0])
    if pin_shaped and n is not None and await proposals.numbered(ctx.db, ctx.user, n) is None:
        return market.nothing_to_confirm()       # a PIN for a trade that expired, most likely
    return await _vote(ctx, ctx.args[0], "yes")


async def handle_no(ctx: CommandCtx) -> str:
    return await _vote(ctx, ctx.args[0], "no") if len(ctx.args) == 1 else texts.vote_usage()


async def handle_vote(ctx: CommandCtx) -> str:
    """VOTE 12 YES (or NO): the choice word in any of our languages."""
    if len(ctx.args) != 2:
        return texts.vote_usage()
    from sms.commands import aliases
    word = aliases().get(ctx.args[1].upper())
    if word not in (YES, NO):
        return texts.vote_usage()
    return await _vote(ctx, ctx.args[0], "yes" if word is YES else "no")


JOIN = Command("join", pgettext_noop("sms keyword", "JOIN"), handle_join, needs_account=True)
CLUSTER = Command("cluster", pgettext_noop("sms keyword", "CLUSTER"), handle_cluster, needs_account=True)
YES = Command("yes", pgettext_noop("sms keyword", "YES"), handle_yes, needs_account=True, pin=yes_pin)
NO = Command("no", pgettext_noop("sms keyword", "NO"), handle_no, needs_account=True)
VOTE = Command("vote", pgettext_noop("sms keyword", "VOTE"), handle_vote, needs_account=True)
