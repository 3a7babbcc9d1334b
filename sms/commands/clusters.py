"""Cluster keywords: JOIN <code>, CLUSTER (the summary), and votes: NO 12 / VOTE 12 YES (YES 12: sms/commands/yes.py)."""
from __future__ import annotations

from enerlectra.db.models import Proposal
from enerlectra.domain import pin_resets
from enerlectra.domain.clusters import joining, members, proposals, texts
from enerlectra.i18n import pgettext_noop
from enerlectra.reports import carbon
from sms.commands.base import Command, CommandCtx, spoken


async def handle_join(ctx: CommandCtx) -> str | None:
    if len(ctx.args) != 1:
        return texts.join_usage()
    try:
        joined = await joining.join(ctx.db, ctx.user, ctx.args[0])
    except members.ClusterError as exc:
        return texts.refusal(exc.reason, ctx.args[0].upper())
    return None if joined.proposal_number is None else texts.put_to_vote(joined.cluster, joined.proposal_number)


async def handle_cluster(ctx: CommandCtx) -> str:
    found = await members.membership_of(ctx.db, ctx.user.id)
    if found is None:
        return texts.refusal("not_member")
    cluster, membership = found
    co2 = await carbon.of_cluster(ctx.db, carbon.Factors.from_settings(ctx.settings), cluster)
    return texts.summary(cluster, await members.pool_balance(ctx.db, cluster),
                         await members.count_members(ctx.db, cluster.id), membership.contributed, co2.grams)


def ballot_number(word: str) -> int | None:
    word = word.lstrip("#")
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 9 else None


async def vote(ctx: CommandCtx, word: str, choice: str) -> str:
    n = ballot_number(word)
    if n is None:
        return texts.vote_usage()
    meant = await proposals.numbered(ctx.db, ctx.user, n)
    if meant is None:
        return texts.vote_reply("unknown", n, choice, "")
    result = await proposals.vote(ctx.db, ctx.user, meant.id, choice)
    if result.status == "held":
        return pin_resets.held_text(result.held_until, ctx.user.country)
    proposal: Proposal | None = result.proposal
    deadline = texts.when(proposal.deadline, ctx.user.country) if proposal else ""
    return texts.vote_reply(result.status, n, choice, deadline, proposal, result.decided)


async def handle_no(ctx: CommandCtx) -> str:
    return await vote(ctx, ctx.args[0], "no") if len(ctx.args) == 1 else texts.vote_usage()


async def handle_vote(ctx: CommandCtx) -> str:
    """VOTE 12 YES (or NO): the choice word in any of our languages."""
    if len(ctx.args) != 2:
        return texts.vote_usage()
    word = ctx.args[1].upper()
    choice = "yes" if word in spoken(YES_KEYWORD) else "no" if word in spoken(NO.keyword) else None
    if choice is None:
        return texts.vote_usage()
    return await vote(ctx, ctx.args[0], choice)


YES_KEYWORD = "YES"    # the msgid of the YES command (sms/commands/yes.py): VOTE 12 YES takes its aliases
JOIN = Command("join", pgettext_noop("sms keyword", "JOIN"), handle_join, needs_account=True)
CLUSTER = Command("cluster", pgettext_noop("sms keyword", "CLUSTER"), handle_cluster, needs_account=True)
NO = Command("no", pgettext_noop("sms keyword", "NO"), handle_no, needs_account=True)
VOTE = Command("vote", pgettext_noop("sms keyword", "VOTE"), handle_vote, needs_account=True)
