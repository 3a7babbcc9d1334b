"""Migration 0022 binds every user PIN stored as plain scrypt (or sealed but unbound) to its user, without the
PINs (pin_code.bind_to_user); after it the same PINs open the same accounts through pins.check, which takes
only values bound to the user asking. What is bound already, and what hash_pin never writes, is left as it
is. The key is needed only when there is something to bind (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from enerlectra.db import migrate
from enerlectra.db.models import User
from enerlectra.domain import ledger, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import BOUND, KEYED, PLAIN, bind_to_user, hash_pin, hash_user_pin, verify_pin
from tests.test_review_pin_sealing import check, set_hash

COST = 16
pins_ = st.text("0123456789", min_size=4, max_size=4)


async def _hashes(db) -> dict[str, str]:
    async with db() as s:
        return {str(m): h for m, h in (await s.execute(select(User.msisdn, User.pin_hash))).all()}


@pytest.fixture
async def at_0021(database, sessions):
    """(url, schema, db): this test's database taken back to 0021, the revision before the sealing."""
    url, schema = database
    await asyncio.to_thread(migrate.downgrade, url, "0021", schema)
    return url, schema, sessions


async def test_unbound_pins_are_bound_and_open_the_same_accounts(at_0021):
    url, schema, db = at_0021
    made = {"+260971800001": lambda uid: hash_pin("4826", COST),              # plain: bound
            "+260971800002": lambda uid: hash_pin("3917", 32),                # plain, another cost: bound at it
            "+260971800003": lambda uid: hash_user_pin("5602", COST),         # sealed, unbound: bound
            "+260971800004": lambda uid: hash_user_pin("6180", COST, uid),    # bound already: as it was
            "+260971800005": lambda uid: hash_pin("4826", COST).replace("$8$1$", "$8$2$")}  # not hash_pin's
    pin_of = {"+260971800001": "4826", "+260971800002": "3917", "+260971800003": "5602", "+260971800004": "6180"}
    ids, stored = {}, {}
    for msisdn, make in made.items():
        ids[msisdn] = (await users.register(db, parse_msisdn(msisdn), "Bupe", "en", "placeholder")).id
        stored[msisdn] = make(ids[msisdn])
        await set_hash(db, ids[msisdn], stored[msisdn])                           # as the release before wrote it
    assert not (await check(db, ids["+260971800001"], "4826")).ok             # before: an unbound PIN opens nothing

    await asyncio.to_thread(migrate.upgrade, url, "head", schema)

    after = await _hashes(db)
    for msisdn in ("+260971800001", "+260971800002", "+260971800003"):
        assert after[msisdn] == bind_to_user(stored[msisdn], ids[msisdn]), msisdn
        assert after[msisdn].startswith(f"{BOUND}$")
    assert after["+260971800002"].startswith(f"{BOUND}$32$")                  # its cost kept: no PIN to redo it
    assert {m: after[m] for m in ("+260971800004", "+260971800005")} == \
        {m: stored[m] for m in ("+260971800004", "+260971800005")}
    for msisdn, pin in pin_of.items():
        assert (await check(db, ids[msisdn], pin)).ok, msisdn
        assert not (await check(db, ids[msisdn], "1470")).ok, msisdn
    assert not (await check(db, ids["+260971800005"], "4826")).ok


async def test_the_key_is_needed_only_when_there_is_a_pin_to_bind(at_0021):
    url, schema, db = at_0021
    await users.register(db, parse_msisdn("+260971800011"), "Bupe", "en", hash_user_pin("4826", COST))  # bound
    mine = ledger.use_key(None)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head", schema)          # nothing to bind: no key asked for
        await asyncio.to_thread(migrate.downgrade, url, "0021", schema)
        plain = hash_pin("4826", COST)
        plain_id = (await users.register(db, parse_msisdn("+260971800012"), "Bupe", "en", plain)).id
        with pytest.raises(ledger.NoKey):
            await asyncio.to_thread(migrate.upgrade, url, "head", schema)
        assert (await _hashes(db))["+260971800012"] == plain                 # nothing written without the key
    finally:
        ledger.use_key(mine)
    await asyncio.to_thread(migrate.upgrade, url, "head", schema)
    assert (await _hashes(db))["+260971800012"] == bind_to_user(plain, plain_id)


@settings(max_examples=25, deadline=None)
@given(pin=pins_, typed=pins_, owner=st.integers(1, 2**31), asker=st.integers(1, 2**31),
       sealed_first=st.booleans())
def test_a_bound_unbound_hash_verifies_its_pin_for_its_user_and_only_those(pin, typed, owner, asker, sealed_first):
    bound = bind_to_user(hash_user_pin(pin, COST) if sealed_first else hash_pin(pin, COST), owner)
    assert bound.startswith(f"{BOUND}${COST}$")
    assert verify_pin(typed, bound, asker) is (typed == pin and asker == owner)


@pytest.mark.parametrize("stored", ["", "garbage", f"{KEYED}$16$8$1$AAAA$AAAA", f"{PLAIN}$16$8$1$AAAA$AA==",
                                    f"{BOUND}$16$8$1$AAAA$" + "A" * 43 + "="])
def test_what_is_not_an_unbound_hash_is_not_bound(stored):
    assert bind_to_user(stored, 5) is None
