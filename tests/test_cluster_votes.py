"""Issue 16 item 1 and the cluster parts of 6 and 8, through the SMS webhook on real Redis and SQL.

The rule (README, Clusters): a proposal is decided as soon as the votes not yet cast cannot change the result,
counting the votes cast as they stand; a member may change their vote only while the proposal is open. So the
vote that decides it hears the result (never "you can change it"), and a later vote hears that it closed.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from enerlectra import i18n
from enerlectra.db.models import Proposal, SmsOutbox, User, Vote
from enerlectra.domain.clusters import proposals
from tests.helpers import committed_only
from tests.test_clusters import a_cluster, people
from tests.test_sms_webhooks import sms
from ussd_app import appkeys

OPEN = "You can change it while the vote is open"


@dataclass
class VoteCase:
    label: str
    members: int
    votes: list[tuple[int, str]]            # (member index, the SMS sent with {n} for the proposal number)
    replies: list[str]                      # a fragment of each reply, in order
    state: str                              # the proposal's state at the end


CASES = [
    VoteCase("4 members: YES, NO, NO rejects at once; the last voter hears it", 4,
             [(0, "YES {n}"), (1, "NO {n}"), (2, "NO {n}")],
             [OPEN, OPEN, "Your vote NO on #1 is counted. It decides the vote: #1 was REJECTED: 1 yes, 2 no."],
             "rejected"),
    VoteCase("4 members: a fourth vote after the decision hears the result", 4,
             [(0, "YES {n}"), (1, "NO {n}"), (2, "NO {n}"), (3, "YES {n}")],
             [OPEN, OPEN, "It decides the vote", "Voting on #1 has closed: #1 was REJECTED: 1 yes, 2 no."],
             "rejected"),
    VoteCase("4 members: three YES pass it", 4, [(0, "YES {n}"), (1, "YES {n}"), (2, "YES {n}")],
             [OPEN, OPEN, "It decides the vote: #1 PASSED: 3 yes, 0 no."], "executed"),
    VoteCase("4 members: 2-2 is a tie, which fails: decided", 4,
             [(0, "YES {n}"), (1, "YES {n}"), (2, "NO {n}"), (3, "NO {n}")],
             [OPEN, OPEN, OPEN, "It decides the vote: #1 was REJECTED: 2 yes, 2 no."], "rejected"),
    VoteCase("3 members: two YES pass it", 3, [(0, "YES {n}"), (1, "VOTE {n} YES")],
             [OPEN, "It decides the vote: #1 PASSED: 2 yes, 0 no."], "executed"),
    VoteCase("2 members: one NO decides (yes can no longer exceed no)", 2, [(0, "YES {n}"), (1, "NO {n}")],
             [OPEN, "It decides the vote: #1 was REJECTED: 1 yes, 1 no."], "rejected"),
    VoteCase("1 member decides alone", 1, [(0, "YES {n}")], ["It decides the vote: #1 PASSED: 1 yes, 0 no."],
             "executed"),
    VoteCase("5 members: a changed vote counts while open", 5,
             [(0, "YES {n}"), (0, "NO {n}"), (1, "NO {n}"), (2, "NO {n}")],
             [OPEN, "Your vote on #1 is now NO.", OPEN, "It decides the vote: #1 was REJECTED: 0 yes, 3 no."],
             "rejected"),
    VoteCase("3 members: changing a vote can decide it too", 3, [(0, "YES {n}"), (1, "NO {n}"), (1, "YES {n}")],
             [OPEN, OPEN, "Your vote on #1 is now YES. It decides the vote: #1 PASSED: 2 yes, 0 no."],
             "executed"),
    VoteCase("5 members: undecided stays open, every reply says it can change", 5,
             [(0, "YES {n}"), (1, "NO {n}"), (2, "YES {n}"), (3, "NO {n}")], [OPEN] * 4, "open"),
]


def say_by_sms(client):
    counter = [0]

    async def say(user: User, text: str) -> str:
        counter[0] += 1
        await client.post("/sms/africastalking/inbound", data=sms(text, sender=user.msisdn,
                                                                     provider_id=f"v{counter[0]}"))
        async with client.app[appkeys.DB]() as s:
            return (await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == user.msisdn,
                                                                 SmsOutbox.kind.like("reply:%"))
                                    .order_by(SmsOutbox.id.desc()).limit(1))).one()
    return say


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_every_vote_reply_agrees_with_the_rule(client, case):
    db = client.app[appkeys.DB]
    group = await people(db, case.members, first=700)
    cluster = await a_cluster(db, group[0], group[1:])
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.get(User, group[0].id), "target", title="target",
                                       amount=3_000_00)
    say = say_by_sms(client)
    replies = [await say(group[who], text.format(n=opened.proposal.number)) for who, text in case.votes]
    for reply, expected in zip(replies, case.replies):
        assert expected in reply, replies
    decided_at = next((i for i, r in enumerate(replies) if "It decides the vote" in r), len(replies))
    assert all(OPEN not in r for r in replies[decided_at:]), "no 'you can change it' once decided"
    async with db() as s:
        proposal = await s.get(Proposal, opened.proposal.id)
        results = await s.scalar(select(func.count()).select_from(SmsOutbox).where(
            SmsOutbox.dedupe_key.like(f"proposal:{proposal.id}:result:%")))
    assert proposal.state == case.state
    assert results == (0 if case.state == "open" else case.members)    # every member hears the result once


@pytest.mark.parametrize("language, yes, no", [("en", "YES", "NO"), ("bem", "EE", "AWE"), ("nya", "INDE", "AYI"),
                                               ("sw", "NDIYO", "HAPANA")])
async def test_vote_confirmations_name_the_choice_in_the_voters_language(client, language, yes, no):
    db = client.app[appkeys.DB]
    group = await people(db, 5, first=720)
    cluster = await a_cluster(db, group[0], group[1:])
    async with committed_only(db) as s:
        for user in group:
            (await s.get(User, user.id)).language = language
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.get(User, group[0].id), "target", title="target",
                                       amount=3_000_00)
    say = say_by_sms(client)
    counted = await say(group[1], f"{yes} {opened.proposal.number}")      # their own keyword votes
    changed = await say(group[1], f"VOTE {opened.proposal.number} {no}")
    assert f" {yes} " in counted and counted.count("YES") == (1 if language == "en" else 0), counted
    assert changed.rstrip(".").endswith(f" {no}") and ("NO" not in changed.split() or language == "en"), changed
    with i18n.language(language):
        assert "#1" in counted and i18n.gettext("Your vote on #{n} is now {choice}.").split("{")[0] in changed


async def test_proposals_are_numbered_per_cluster_and_votes_find_the_voters_own(client):
    db = client.app[appkeys.DB]
    a1, a2, a3, b1, b2, b3 = await people(db, 6, first=740)
    first = await a_cluster(db, a1, [a2, a3])
    second = await a_cluster(db, b1, [b2, b3])
    numbers = []
    for cluster, chair in ((first, a1), (first, a1), (second, b1)):
        async with committed_only(db) as s:
            opened = await proposals.open_(s, cluster, await s.get(User, chair.id), "target", title="target",
                                           amount=3_000_00)
            numbers.append((cluster.id, opened.proposal.number))
    assert numbers == [(first.id, 1), (first.id, 2), (second.id, 1)]
    say = say_by_sms(client)
    assert OPEN in await say(b2, "YES 1")                        # the second cluster's #1, not the first's
    assert OPEN in await say(a2, "NO 2")
    assert "There is no proposal #2." in await say(b2, "YES 2")
    async with db() as s:
        votes = dict((await s.execute(select(Proposal.cluster_id, func.count()).join(
            Vote, Vote.proposal_id == Proposal.id).group_by(Proposal.cluster_id))).all())
        ballot = (await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == b3.msisdn,
                                                               SmsOutbox.kind == "cluster"))).all()
    assert votes == {first.id: 1, second.id: 1}
    assert any("vote on #1 " in body and "YES 1 or NO 1" in body for body in ballot), ballot


async def test_ballots_name_who_gets_paid_and_contributions_get_a_receipt_once(client):
    from enerlectra.domain import wallet
    from enerlectra.domain.clusters import members

    db = client.app[appkeys.DB]
    chair, member = await people(db, 2, first=760)
    cluster = await a_cluster(db, chair, [member])
    await wallet.credit(db, "t:fund", chair, "ZMW", 100_00, "test")
    for _twice in range(2):                                  # the same hop again: one entry, one receipt
        async with committed_only(db) as s:
            given = await members.contribute(s, "t:give", await s.get(User, chair.id), 60_00)
    async with committed_only(db) as s:
        await proposals.open_(s, cluster, await s.get(User, chair.id), "equipment", title="2 batteries",
                              amount=50_00, payee="+260961234567")
    async with db() as s:
        receipts = (await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == chair.msisdn,
                                                                 SmsOutbox.dedupe_key.like("contribution:%")))).all()
        ballots = (await s.scalars(select(SmsOutbox.body).where(SmsOutbox.dedupe_key.like("proposal:%:ballot:%"))
                                   .order_by(SmsOutbox.id))).all()
    assert given.total == 60_00 and given.pool == 60_00
    assert receipts == ["Enerlectra Kabwata Solar: you gave K60.00 to the pool, K60.00 in all. The pool has K60.00."]
    assert len(ballots) == 2 and all("vote on #1 2 batteries K50.00 to +260961234567." in b for b in ballots), ballots


def test_migration_0014_keeps_the_numbers_ballots_already_carry():
    """Before 0014 a ballot said "YES <id>": after it, that proposal's number is its id, in its cluster, and new
    proposals continue from the highest number in theirs."""
    from enerlectra.db.migrate import downgrade, upgrade
    from tests.test_ledger import Db

    store = Db()
    try:
        async def seed() -> tuple[int, int]:
            chairs = await people(store.db, 2, first=780)
            first = await a_cluster(store.db, chairs[0], [])
            second = await a_cluster(store.db, chairs[1], [])
            ids = []
            for cluster, chair in ((first, chairs[0]), (second, chairs[1])):
                async with committed_only(store.db) as s:
                    opened = await proposals.open_(s, cluster, await s.get(User, chair.id), "target",
                                                   title="target", amount=100, hours=1)
                    ids.append(opened.proposal.id)
            return second.id, ids[1]
        second_id, old_id = store.run(seed())
        downgrade(store.url, "0012", schema=store.schema)
        upgrade(store.url, schema=store.schema)

        async def after() -> tuple[int, int]:
            async with committed_only(store.db) as s:
                old = await s.get(Proposal, old_id)
                cluster = await s.get(proposals.Cluster, second_id)
                chair = await s.get(User, old.proposer_id)
                new = (await proposals.open_(s, cluster, chair, "target", title="target", amount=200)).proposal
                return old.number, new.number
        assert store.run(after()) == (old_id, old_id + 1) == (2, 3)
    finally:
        store.close()
