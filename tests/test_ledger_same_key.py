"""One key posted by many transactions at the same moment is one entry and answers the rest as repeats: never a
unique-key error (a 5xx to the caller), never twice. PostgreSQL is where it bites: a transaction that waited for
the accounts' row locks took its snapshot before the winner committed (ledger_pg._WRITE)."""
from __future__ import annotations

import asyncio

import pytest

from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.phone import parse_msisdn
from ussd_app import appkeys

FUNDS, AMOUNT, FEE = 100_000, 1_500, 50


async def two_funded_users(db):
    a = await users.register(db, parse_msisdn("+260971820001"), "Chanda", "en", "not-a-pin-hash")
    b = await users.register(db, parse_msisdn("+260971820002"), "Mutale", "en", "not-a-pin-hash")
    await wallet.credit(db, "fund-a", a, a.currency, FUNDS, "test funds")
    return a, b


async def balances(db, *people) -> list[int]:
    async with db() as s:
        return [(await ledger.user_money(s, p.id, p.currency)).balance for p in people]


async def verified(db) -> list:
    async with db() as s:
        return await ledger.verify(s)


@pytest.mark.parametrize("copies", [2, 20])
async def test_one_transfer_key_posted_at_once_moves_money_once(client, copies):
    db = client.app[appkeys.DB]
    a, b = await two_funded_users(db)
    results = await asyncio.gather(*(wallet.transfer(db, "send-1", a, b, AMOUNT, FEE) for _ in range(copies)))
    assert sorted(r.created for r in results) == [False] * (copies - 1) + [True]
    assert len({r.entry_id for r in results}) == 1
    assert await balances(db, a, b) == [FUNDS - AMOUNT - FEE, AMOUNT]
    assert await verified(db) == []


async def test_many_keys_and_their_repeats_at_once_move_each_once(client):
    db = client.app[appkeys.DB]
    a, b = await two_funded_users(db)
    keys = [f"send-{n}" for n in range(8)] * 3
    results = await asyncio.gather(*(wallet.transfer(db, key, a, b, AMOUNT, FEE) for key in keys))
    assert sum(r.created for r in results) == 8
    assert await balances(db, a, b) == [FUNDS - 8 * (AMOUNT + FEE), 8 * AMOUNT]
    assert await verified(db) == []


async def test_one_credit_key_posted_at_once_credits_once(client):
    db = client.app[appkeys.DB]
    a, _b = await two_funded_users(db)
    results = await asyncio.gather(*(wallet.credit(db, "pilot-1", a, a.currency, 700, "pilot") for _ in range(20)))
    assert sum(r.created for r in results) == 1
    assert await balances(db, a) == [FUNDS + 700]
    assert await verified(db) == []
