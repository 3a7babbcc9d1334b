"""Attack review of 998b568 (one key posted at once by many transactions): a key sent again with *other* legs.

The ledger answers a posted key with that key's entry whatever legs the repeat carries (`created` False). Since
998b568 this holds for transactions racing on PostgreSQL too (before, the losers got a unique-key error). A caller
that reads `created` False as "my transfer is done" then tells a user that money moved which never did.
wallet.credit compares the entry with its own legs (KeyReused); wallet.transfer and clusters' contribute must too."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from enerlectra.db.models import Account, User
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.clusters import members as clubs
from enerlectra.domain.ledger import Leg
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.work import unit_of_work
from ussd_app import appkeys

FUNDS = 100_000


async def people(db, n: int):
    found = [await users.register(db, parse_msisdn(f"+26097183000{i}"), f"P{i}", "en", "not-a-pin-hash")
             for i in range(n)]
    await wallet.credit(db, "fund-0", found[0], found[0].currency, FUNDS, "test funds")
    return found


async def money(db, *who) -> list[int]:
    async with db() as s:
        return [(await ledger.user_money(s, p.id, p.currency)).balance for p in who]


async def verified(db) -> list:
    async with db() as s:
        return await ledger.verify(s)


async def all_at_once(db, user, calls):
    """Run `calls` so that they truly race: a transaction holds `user`'s wallet row lock until every call has
    started and waits behind it (PostgreSQL: their lock statements all begin before the winner commits)."""
    async with db() as s, s.begin():
        wallet_id = (await ledger.user_money(s, user.id, user.currency)).id
        await s.execute(select(Account.id).where(Account.id == wallet_id).with_for_update())
        tasks = [asyncio.ensure_future(call) for call in calls]
        await asyncio.sleep(0.3)
    return await asyncio.gather(*tasks)


async def outcome(call):
    try:
        return await call
    except wallet.KeyReused:
        return "reused"


async def test_a_transfer_key_sent_again_for_another_transfer_is_refused(client):
    # Sequential: the second transfer (another recipient, another amount) must not come back as done.
    db = client.app[appkeys.DB]
    a, b, c = await people(db, 3)
    first = await wallet.transfer(db, "send-k", a, b, 1_500, 0)
    assert first.created
    with pytest.raises(wallet.KeyReused):
        await wallet.transfer(db, "send-k", a, c, 900, 0)
    again = await wallet.transfer(db, "send-k", a, b, 1_500, 0)          # the same transfer again: a repeat
    assert (again.entry_id, again.created) == (first.entry_id, False)
    assert await money(db, a, b, c) == [FUNDS - 1_500, 1_500, 0]


@pytest.mark.parametrize("copies", [2, 10])
async def test_one_key_two_transfers_at_once_moves_one_and_refuses_the_other(client, copies):
    # The race 998b568 opened on PostgreSQL: copies of a->b and of a->c under one key, all at once.
    db = client.app[appkeys.DB]
    a, b, c = await people(db, 3)
    calls = [wallet.transfer(db, "send-race", a, b, 1_500, 0) for _ in range(copies)]
    calls += [wallet.transfer(db, "send-race", a, c, 900, 0) for _ in range(copies)]
    results = await all_at_once(db, a, [outcome(call) for call in calls])
    done = [r for r in results if r != "reused"]
    assert sum(r.created for r in done) == 1 and len({r.entry_id for r in done}) == 1
    assert None not in {r.entry_id for r in done}
    b_won = any(r != "reused" for r in results[:copies])
    # every copy of the winner's transfer is a repeat; every copy of the other is refused, never "done"
    assert results[copies:] == ["reused"] * copies if b_won else results[:copies] == ["reused"] * copies
    assert await money(db, a, b, c) == ([FUNDS - 1_500, 1_500, 0] if b_won else [FUNDS - 900, 0, 900])
    assert await verified(db) == []


async def test_one_key_posted_at_once_on_disjoint_accounts_writes_one_entry_and_no_stray_rows(client):
    # ledger.post itself, legs on accounts no two calls share (so no call waits on another's row locks, only on
    # the key): one entry, every balance and head consistent (verify), no Posted without an entry id.
    db = client.app[appkeys.DB]
    who = await people(db, 6)
    async with unit_of_work(db) as s:
        operator = await ledger.system(s, "operator", who[0].currency)
        wallets = [await ledger.user_money(s, p.id, p.currency) for p in who]

    async def post(target):
        async with unit_of_work(db) as s:
            return await ledger.post(s, "grant-1", "credit", [Leg(operator.id, -100), Leg(target.id, 100)])
    posted = await asyncio.gather(*(post(w) for w in wallets for _ in range(3)))
    assert sum(p.created for p in posted) == 1
    assert {p.entry_id for p in posted} == {posted[0].entry_id} and posted[0].entry_id is not None
    balances = await money(db, *who)
    assert sum(balances) == FUNDS + 100 and sorted(balances)[:4] == [0] * 4      # one wallet got the 100
    assert await verified(db) == []


async def test_a_contribution_key_sent_again_for_another_amount_is_refused(client):
    # The cluster screen says "Thank you. You gave {amount}" from what contribute returns: never for a key whose
    # entry gave another amount.
    db = client.app[appkeys.DB]
    chair, _ = await people(db, 2)
    async with unit_of_work(db) as s:
        await clubs.create(s, await s.get(User, chair.id), "Kabwe Solar", "micro", "Kabwe", 50_000, True)
    async with unit_of_work(db) as s:
        first = await clubs.contribute(s, "give-k", await s.get(User, chair.id), 2_000)
    with pytest.raises(ledger.KeyReused):
        async with unit_of_work(db) as s:
            await clubs.contribute(s, "give-k", await s.get(User, chair.id), 7_000)
    async with unit_of_work(db) as s:
        again = await clubs.contribute(s, "give-k", await s.get(User, chair.id), 2_000)     # a retry: a repeat
    assert (first.total, first.pool) == (again.total, again.pool) == (2_000, 2_000)
    assert await money(db, chair) == [FUNDS - 2_000]
    assert await verified(db) == []


async def test_first_movements_to_a_new_user_at_once_open_its_accounts_once(client):
    # 998b568 removed wallet.credit's retry on IntegrityError, which also covered two transactions creating a
    # new user's account at the same moment: 20 first credits and 20 first transfers at once, each moves once.
    db = client.app[appkeys.DB]
    a, b, c = await people(db, 3)
    credits = [wallet.credit(db, f"first-credit-{n}", b, b.currency, 100, "pilot") for n in range(20)]
    energy = [wallet.credit(db, f"first-wh-{n}", b, ledger.ENERGY, 10, "pilot") for n in range(20)]
    sends = [wallet.transfer(db, f"first-send-{n}", a, c, 50, 0) for n in range(20)]
    results = await asyncio.gather(*credits, *energy, *sends)
    assert all(r.created for r in results)
    assert await money(db, a, b, c) == [FUNDS - 20 * 50, 20 * 100, 20 * 50]
    async with db() as s:
        assert (await ledger.user_energy(s, b.id)).balance == 20 * 10
    assert await verified(db) == []


@pytest.mark.parametrize("copies", [2, 10, 30])
async def test_copies_of_a_transfer_that_empties_the_wallet_are_repeats_not_refusals(client, copies):
    # A hop retransmitted while the first copy still runs (lock expired, Redis lost): the first empties the
    # wallet; the others must hear "the same transfer" (created False), never InsufficientFunds, which the send
    # screen turns into "Not enough money. Nothing was sent." for money that was sent. PostgreSQL: the copies
    # wait for the wallet's row lock, and their lock statement's snapshot predates the first one's entry.
    db = client.app[appkeys.DB]
    a, b = await people(db, 2)

    async def send():
        try:
            return await wallet.transfer(db, "send-all", a, b, FUNDS, 0)
        except ledger.InsufficientFunds:
            return "refused"
    results = await all_at_once(db, a, [send() for _ in range(copies)])
    assert "refused" not in results
    assert sorted(r.created for r in results) == [False] * (copies - 1) + [True]
    assert await money(db, a, b) == [0, FUNDS]
    assert await verified(db) == []


async def test_a_copy_that_waits_behind_the_first_for_the_wallet_is_a_repeat_not_a_refusal(client):
    # The exact interleaving: the first copy has posted (the wallet is empty, its lock held, not committed yet)
    # when the second copy's lock statement starts; the first commits while the second waits.
    db = client.app[appkeys.DB]
    a, b = await people(db, 2)
    async with unit_of_work(db) as s:       # opens b's wallet
        legs = [Leg((await ledger.user_money(s, a.id, a.currency)).id, -FUNDS),
                Leg((await ledger.user_money(s, b.id, b.currency)).id, FUNDS)]
    posted = asyncio.Event()

    async def first():
        async with unit_of_work(db) as s:
            done = await ledger.post(s, "send-all", "transfer", legs)
            posted.set()
            await asyncio.sleep(0.3)             # the second copy is now waiting for the wallet's row lock
        return done

    async def second():
        await posted.wait()
        try:
            async with unit_of_work(db) as s:
                return await ledger.post(s, "send-all", "transfer", legs)
        except ledger.InsufficientFunds:
            return "refused"
    one, two = await asyncio.gather(first(), second())
    assert one.created and two == ledger.Posted(one.entry_id, created=False)
    assert await money(db, a, b) == [0, FUNDS]
    assert await verified(db) == []
