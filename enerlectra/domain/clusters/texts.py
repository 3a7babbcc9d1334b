"""What clusters say by SMS, in the current language (callers switch to the reader's)."""
from __future__ import annotations

from enerlectra.domain.money import format_money
from enerlectra.domain.pins import LOCAL_TIME
from enerlectra.i18n import _, lazy_gettext, ngettext, pgettext
from enerlectra.reports.carbon import format_co2

KINDS = {"micro": lazy_gettext("Micro"), "neighbourhood": lazy_gettext("Neighbourhood"),
         "industrial": lazy_gettext("Industrial"), "supply": lazy_gettext("Supply")}


def when(deadline, country: str) -> str:
    """'25/11 18:00' in the member's local time (dates, not day names: those would need translating)."""
    local = deadline.astimezone(LOCAL_TIME.get(country))
    return f"{local.strftime('%d/%m')} {local.strftime('%H:%M')}"


def describe(kind: str, title: str | None, amount: int | None, currency: str,
             subject_name: str | None = None, payee: str | None = None) -> str:
    """What a proposal would do, before it has a number: '2 batteries K4,800.00', with `payee`
    '2 batteries K4,800.00 to +260961234567' (ballots and the confirm name who gets the money)."""
    if kind in ("equipment", "spend"):
        if payee:
            return _("{title} {amount} to {payee}").format(title=title, amount=format_money(amount, currency),
                                                           payee=payee)
        return f"{title} {format_money(amount, currency)}"
    if kind == "target":
        return _("Change the target to {amount}").format(amount=format_money(amount, currency))
    if kind == "admit":
        return _("Admit {name}").format(name=subject_name or "")
    return _("Remove {name}").format(name=subject_name or "")


def what(proposal, currency: str, subject_name: str | None = None, payee: bool = False) -> str:
    """One line naming a proposal: '#12 2 batteries K4,800.00' (its number in its cluster), with `payee` the
    supplier's number too."""
    return f"#{proposal.number} " + describe(proposal.kind, proposal.title, proposal.amount, currency, subject_name,
                                             proposal.payee if payee else None)


def ballot(proposal, cluster, member, subject_name: str | None = None) -> str:
    return _("Enerlectra {cluster}: vote on {what}. Reply YES {n} or NO {n} by {deadline}.").format(
        cluster=cluster.name, what=what(proposal, cluster.currency, subject_name, payee=True), n=proposal.number,
        deadline=when(proposal.deadline, member.country))


def choice_word(choice: str) -> str:
    """YES / NO as the reader's language spells the keyword (EE / AWE in Bemba): what they would send."""
    return pgettext("sms keyword", "YES") if choice == "yes" else pgettext("sms keyword", "NO")


def outcome(proposal) -> str | None:
    """passed / rejected / expired once closed (executed or not), else None."""
    if proposal.state in ("passed", "executed", "execution_failed"):
        return "passed"
    return proposal.state if proposal.state in ("rejected", "expired") else None


def decided(proposal) -> str:
    """The result in a few words: '#12 PASSED: 3 yes, 1 no.'"""
    n, yes, no = proposal.number, proposal.yes, proposal.no
    if outcome(proposal) == "passed":
        return _("#{n} PASSED: {yes} yes, {no} no.").format(n=n, yes=yes, no=no)
    if outcome(proposal) == "rejected":
        return _("#{n} was REJECTED: {yes} yes, {no} no.").format(n=n, yes=yes, no=no)
    return _("#{n} EXPIRED: too few votes.").format(n=n)


def result(proposal, cluster, subject_name: str | None = None) -> str:
    counts = {"yes": proposal.yes, "no": proposal.no}
    if proposal.state == "passed":
        line = _("Enerlectra {cluster}: {what} PASSED, {yes} yes, {no} no.")
    elif proposal.state == "rejected":
        line = _("Enerlectra {cluster}: {what} was REJECTED, {yes} yes, {no} no.")
    else:
        line = _("Enerlectra {cluster}: {what} EXPIRED: too few votes ({votes} of {quorum} needed).")
        counts = {"votes": proposal.yes + proposal.no, "quorum": proposal.quorum}
    return line.format(cluster=cluster.name, what=what(proposal, cluster.currency, subject_name), **counts)


def paid(proposal, cluster) -> str:
    return _("Enerlectra {cluster}: {amount} was paid to {payee} for #{n} {title}.").format(
        cluster=cluster.name, amount=format_money(proposal.amount, cluster.currency), payee=proposal.payee,
        n=proposal.number, title=proposal.title)


def payout_failed(proposal, cluster) -> str:
    return _("Enerlectra {cluster}: paying {payee} for #{n} did not go through. The money is back in the "
             "pool.").format(cluster=cluster.name, payee=proposal.payee, n=proposal.number)


def invitation(cluster, inviter_name: str) -> str:
    return _("{name} invites you to the Enerlectra energy cluster {cluster}. Dial *123# or send JOIN {code} to "
             "join.").format(name=inviter_name, cluster=cluster.name, code=cluster.code)


def welcome(cluster) -> str:
    return _("Enerlectra: you are now a member of {cluster} (code {code}).").format(cluster=cluster.name,
                                                                                   code=cluster.code)


BASELINES = {"grid": lazy_gettext("grid"), "diesel": lazy_gettext("diesel"), "kerosene": lazy_gettext("kerosene")}


def baseline_word(baseline: str) -> str:
    """What a carbon figure's energy displaced, in the reader's language (clusters.carbon_baseline)."""
    return str(BASELINES.get(baseline, baseline))


def carbon_line(grams: int, baseline: str) -> str:
    """'CO2 avoided: 1.23 t.'; off the grid it names the baseline: 'CO2 avoided vs diesel: 1.23 t.'"""
    if baseline == "grid":
        return _("CO2 avoided: {co2}.").format(co2=format_co2(grams))
    return _("CO2 avoided vs {baseline}: {co2}.").format(baseline=baseline_word(baseline), co2=format_co2(grams))


def summary(cluster, pool: int, members: int, mine: int, co2_grams: int | None = None) -> str:
    """The cluster in one SMS or screen; with `co2_grams`, a carbon line on the cluster's baseline."""
    text = _summary(cluster, pool, members, mine)
    if co2_grams is None:
        return text
    return f"{text} {carbon_line(co2_grams, getattr(cluster, 'carbon_baseline', 'grid') or 'grid')}"


def _summary(cluster, pool: int, members: int, mine: int) -> str:
    return ngettext("{cluster} ({code}): {members} member, pool {pool}. You gave {mine} of the {target} "
                    "target.",
                    "{cluster} ({code}): {members} members, pool {pool}. You gave {mine} of the {target} "
                    "target.", members).format(cluster=cluster.name, code=cluster.code, members=members,
                               pool=format_money(pool, cluster.currency), mine=format_money(mine, cluster.currency),
                               target=format_money(cluster.target, cluster.currency))


def contributed(cluster, amount: int, total: int, pool: int) -> str:
    """The receipt SMS for a contribution (money left the wallet: the owner hears of it by SMS too)."""
    money = cluster.currency
    return _("Enerlectra {cluster}: you gave {amount} to the pool, {total} in all. The pool has {pool}.").format(
        cluster=cluster.name, amount=format_money(amount, money), total=format_money(total, money),
        pool=format_money(pool, money))


def join_usage() -> str:
    return _("To join a cluster send JOIN and its code, like JOIN K7Q2M. Dial *123# to create one.")


def refusal(reason: str, code: str = "") -> str:
    return {
        "unknown_code": _("No cluster has the code {code}. Check it and type it again.").format(code=code),
        "already_member": _("You are a member of that cluster already."),
        "in_another": _("You are in another cluster. Leave it first to join this one."),
        "other_country": _("That cluster is in another country."),
        "not_member": _("You are not in a cluster. Dial *123# to create or join one, or send JOIN and a code."),
    }.get(reason, _("That cannot be done now."))


def put_to_vote(cluster, n: int) -> str:
    return _("Members of {name} vote on letting you in (#{n}). We will SMS you the result.").format(
        name=cluster.name, n=n)


def vote_reply(status: str, n: int, choice: str, deadline: str, proposal=None, decisive: bool = False) -> str:
    """The answer to a vote, by the rule in the README: a vote that decides the proposal says the result
    (nothing can be changed after it); any other says it can be changed while the vote stays open."""
    word = choice_word(choice)
    if decisive and status in ("recorded", "same"):
        return _("Your vote {choice} on #{n} is counted. It decides the vote: {result}").format(
            choice=word, n=n, result=decided(proposal))
    if decisive and status == "changed":
        return _("Your vote on #{n} is now {choice}. It decides the vote: {result}").format(
            choice=word, n=n, result=decided(proposal))
    if status in ("recorded", "same"):
        return _("Your vote {choice} on #{n} is counted. You can change it while the vote is open: until "
                 "{deadline}, or until the result is certain.").format(choice=word, n=n, deadline=deadline)
    if status == "changed":
        return _("Your vote on #{n} is now {choice}.").format(choice=word, n=n)
    if status == "closed" and proposal is not None and outcome(proposal):
        return _("Voting on #{n} has closed: {result}").format(n=n, result=decided(proposal))
    if status == "closed":
        return _("Voting on #{n} has closed.").format(n=n)
    if status == "not_eligible":
        return _("Only members of the cluster when #{n} opened vote on it.").format(n=n)
    return _("There is no proposal #{n}.").format(n=n)


def vote_usage() -> str:
    return _("To vote send YES or NO and the proposal number, like YES 12 or NO 12.")
