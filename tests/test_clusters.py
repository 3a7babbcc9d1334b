"""Clusters through the domain and the SMS webhook: members, votes under concurrency, closing once,
changes that need no payment, and the ledger afterwards. (USSD and payouts: the cluster journeys.)"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import Cluster, Membership, Proposal, SmsOutbox, User, Vote
from enerlectra.domain import ledger, outbox, users, wallet
from enerlectra.domain.clusters import members, proposals
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.work import followups, unit_of_work
from tests.helpers import committed_only
from tests.test_sms_webhooks import sms
from ussd_app import appkeys


async def people(db, n: int, first: int = 0) -> list[User]:
    pin = hash_user_pin("4826", 16)          # sealed with this test's key (conftest's ledger_key)
    return [await users.register(db, parse_msisdn(f"+26097{4000000 + first + i:07d}"), f"M{first + i}", "en",
                                 pin) for i in range(n)]


async def a_cluster(db, chair: User, others: list[User], open_: bool = True) -> Cluster:
    async with committed_only(db) as s:
        cluster = await members.create(s, await s.merge(chair), "Kabwata Solar", "micro", "Kabwata", 2_000_00, open_)
        for user in others:
            await members.add_member(s, cluster, await s.merge(user))
    return cluster


async def results_sent(db, proposal_id: int) -> int:
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(SmsOutbox).where(
            SmsOutbox.dedupe_key.like(f"proposal:{proposal_id}:result:%")))


@pytest.fixture
async def db(database):
    url, schema = database
    if url.startswith("postgresql"):
        engine = create_async_engine(url, pool_size=40, max_overflow=0,
                                     connect_args={"server_settings": {"search_path": schema}})
    else:
        engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_100_members_voting_concurrently_twice_each_give_one_vote_each_and_one_result_each(db):
    """150 members (quorum 75; with a third voting no, no early decision); each of 100 voters sends the same
    vote twice at once (a retried SMS, a double tap); then two closing jobs race at the deadline."""
    everyone = await people(db, 150)
    cluster = await a_cluster(db, everyone[0], everyone[1:])
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.merge(everyone[0]), "target", title="target",
                                       amount=3_000_00)
    proposal_id = opened.proposal.id
    voters = everyone[:100]

    async def vote(user: User, choice: str) -> str:
        async with committed_only(db) as s:
            return (await proposals.vote(s, await s.get(User, user.id), proposal_id, choice)).status

    final = {u.id: ("no" if i % 3 == 0 else "yes") for i, u in enumerate(voters)}
    statuses = await asyncio.gather(*(vote(u, final[u.id]) for u in voters for _twice in range(2)))
    assert sorted(statuses) == ["recorded"] * 100 + ["same"] * 100
    async with db() as s:
        votes = (await s.execute(select(Vote.user_id, Vote.choice).where(Vote.proposal_id == proposal_id))).all()
    assert len(votes) == 100 and dict(votes) == final                 # one vote each

    later = outbox.now() + timedelta(hours=73)

    async def close() -> int:
        async with unit_of_work(db) as s:
            await proposals.close_due(s, at=later)
            return len(followups(s).sends)
    await asyncio.gather(close(), close())
    async with db() as s:
        proposal = await s.get(Proposal, proposal_id)
        target = (await s.get(Cluster, cluster.id)).target
    yes = sum(1 for c in final.values() if c == "yes")
    assert (proposal.state, proposal.yes, proposal.no) == ("executed", yes, 100 - yes)   # passed, then applied
    assert target == 3_000_00
    assert await results_sent(db, proposal_id) == 150                  # one result SMS per member, not two


@pytest.mark.parametrize("votes, state, members_after", [
    ({"A": "yes", "B": "yes"}, "executed", {"A", "B"}),                # 2 of 3: decided at once, C removed
    ({"A": "yes", "B": "no"}, "open", {"A", "B", "C"}),                # undecided until the deadline
    ({"A": "no", "B": "no"}, "rejected", {"A", "B", "C"}),
])
async def test_removing_a_member(db, votes, state, members_after):
    a, b, c = await people(db, 3, first=300)
    cluster = await a_cluster(db, a, [b, c])
    by_name = {"A": a, "B": b, "C": c}
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.merge(a), "remove", title="remove", subject=c)
    for name, choice in votes.items():
        async with committed_only(db) as s:
            await proposals.vote(s, await s.get(User, by_name[name].id), opened.proposal.id, choice)
    async with db() as s:
        proposal = await s.get(Proposal, opened.proposal.id)
        active = {u.name for _m, u in await members.active_members(s, cluster.id)}
    assert proposal.state == state
    assert active == {by_name[n].name for n in members_after}


async def test_eligibility_is_fixed_when_a_proposal_opens(db):
    a, b, late = await people(db, 3, first=400)
    cluster = await a_cluster(db, a, [b])
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.merge(a), "target", title="target", amount=100)
        await members.add_member(s, cluster, await s.merge(late))
    async with committed_only(db) as s:
        result = await proposals.vote(s, await s.get(User, late.id), opened.proposal.id, "yes")
    assert result.status == "not_eligible"
    async with committed_only(db) as s:
        await members.leave(s, await s.get(User, b.id))                  # leaving does not take the vote away
    async with committed_only(db) as s:
        assert (await proposals.vote(s, await s.get(User, b.id), opened.proposal.id, "yes")).status == "recorded"


async def test_contributions_stay_in_the_pool_when_a_member_leaves_and_the_chair_passes_on(db):
    chair, b = await people(db, 2, first=500)
    cluster = await a_cluster(db, chair, [b])
    await wallet.credit(db, "t:fund", chair, "ZMW", 100_00, "test")
    async with committed_only(db) as s:
        await members.contribute(s, "t:c1", await s.get(User, chair.id), 60_00)
        await members.contribute(s, "t:c1", await s.get(User, chair.id), 60_00)     # the same key: once
    async with committed_only(db) as s:
        await members.leave(s, await s.get(User, chair.id))
    async with db() as s:
        pool = await members.pool_balance(s, cluster)
        roles = dict((await s.execute(select(Membership.user_id, Membership.role)
                                      .where(Membership.status == "active"))).all())
        assert await ledger.verify(s) == []
    assert pool == 60_00 and roles == {b.id: "chair"}


async def test_votes_and_joins_by_sms(client):
    db = client.app[appkeys.DB]
    a, b, d, c = await people(db, 4, first=600)
    cluster = await a_cluster(db, a, [b, d], open_=False)

    async def say(user: User, text: str, n=[0]) -> str:   # noqa: B006  a counter for provider ids
        n[0] += 1
        await client.post("/sms/africastalking/inbound", data=sms(text, sender=user.msisdn, provider_id=f"c{n[0]}"))
        async with db() as s:
            return (await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == user.msisdn)
                                    .order_by(SmsOutbox.id.desc()).limit(1))).one()

    assert "You are not in a cluster." in await say(c, "CLUSTER")
    assert "No cluster has the code NOPE1." in await say(c, "JOIN nope1")
    assert "vote on letting you in (#" in await say(c, f"jiunge {cluster.code.lower()}")    # Swahili alias
    async with db() as s:
        admit = (await s.scalars(select(Proposal))).one()
    assert f"Your vote YES on #{admit.id} is counted." in await say(a, f"YES {admit.id}")
    assert await say(a, f"NO #{admit.id}") == f"Your vote on #{admit.id} is now NO."
    assert f"Your vote on #{admit.id} is now YES." == await say(a, f"VOTE {admit.id} NDIYO")
    assert "Only members of the cluster when" in await say(c, f"YES {admit.id}")
    assert "There is no proposal #999." in await say(a, "YES 999")
    assert "To vote send YES or NO" in await say(a, "NO")
    assert f"Your vote YES on #{admit.id} is counted." in await say(b, f"YES {admit.id}")   # 2 of 3: passed
    assert "Kabwata Solar (" in await say(c, "CLUSTER")                      # admitted
