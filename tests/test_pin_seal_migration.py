"""Migration 0022 seals every user PIN stored as plain scrypt, without the PINs (pin_code.seal_plain); after it
the same PINs open the same accounts through pins.check, which takes sealed hashes only. What is sealed
already, and what hash_pin never writes, is left as it is. The key is needed only when there is a plain PIN
(SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import select

from enerlectra.db import migrate
from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import User
from enerlectra.domain import ledger, pins, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import KEYED, PLAIN, hash_pin, pin_key, seal_plain, verify_pin

COST = 16
pins_ = st.text("0123456789", min_size=4, max_size=4)


async def _check(db, user_id: int, pin: str) -> bool:
    return (await pins.check(db, user_id, pin, max_failures=3, lock_minutes=30, lock_sms=lambda u, t: "locked",
                             cost=COST)).ok


async def _hashes(db) -> dict[str, str]:
    async with db() as s:
        return {str(m): h for m, h in (await s.execute(select(User.msisdn, User.pin_hash))).all()}


@pytest.fixture
async def at_0021(database):
    """(url, schema, db): this test's database taken back to 0021, the revision before the sealing."""
    url, schema = database
    await asyncio.to_thread(migrate.downgrade, url, "0021", schema)
    engine = make_engine(url, schema=schema)
    yield url, schema, make_sessionmaker(engine)
    await engine.dispose()


async def test_plain_pins_are_sealed_and_open_the_same_accounts(at_0021):
    url, schema, db = at_0021
    stored = {"+260971800001": hash_pin("4826", COST),                       # plain: sealed
              "+260971800002": hash_pin("3917", 32),                         # plain, another cost: sealed at it
              "+260971800003": hash_pin("5602", COST, key=pin_key()),        # sealed already: as it was
              "+260971800004": hash_pin("4826", COST).replace("$8$1$", "$8$2$")}   # not hash_pin's: as it was
    pin_of = {"+260971800001": "4826", "+260971800002": "3917", "+260971800003": "5602"}
    ids = {}
    for msisdn, value in stored.items():
        ids[msisdn] = (await users.register(db, parse_msisdn(msisdn), "Bupe", "en", value)).id
    assert not await _check(db, ids["+260971800001"], "4826")             # before: a plain PIN opens nothing

    await asyncio.to_thread(migrate.upgrade, url, "head", schema)

    after = await _hashes(db)
    for msisdn in ("+260971800001", "+260971800002"):
        assert after[msisdn] == seal_plain(stored[msisdn], pin_key()) and after[msisdn].startswith(f"{KEYED}$")
    assert after["+260971800002"].startswith(f"{KEYED}$32$")                  # its cost kept: no PIN to redo it
    assert {m: after[m] for m in ("+260971800003", "+260971800004")} == \
        {m: stored[m] for m in ("+260971800003", "+260971800004")}
    for msisdn, pin in pin_of.items():
        assert await _check(db, ids[msisdn], pin), msisdn
        assert not await _check(db, ids[msisdn], "1470"), msisdn
    assert not await _check(db, ids["+260971800004"], "4826")


async def test_the_key_is_needed_only_when_there_is_a_plain_pin(at_0021):
    url, schema, db = at_0021
    await users.register(db, parse_msisdn("+260971800011"), "Bupe", "en", hash_pin("4826", COST, key=pin_key()))
    mine = ledger.use_key(None)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head", schema)          # nothing plain: no key asked for
        await asyncio.to_thread(migrate.downgrade, url, "0021", schema)
        plain = hash_pin("4826", COST)
        await users.register(db, parse_msisdn("+260971800012"), "Bupe", "en", plain)
        with pytest.raises(ledger.NoKey):
            await asyncio.to_thread(migrate.upgrade, url, "head", schema)
        assert (await _hashes(db))["+260971800012"] == plain                 # nothing written without the key
    finally:
        ledger.use_key(mine)
    await asyncio.to_thread(migrate.upgrade, url, "head", schema)
    assert (await _hashes(db))["+260971800012"] == seal_plain(plain, pin_key())


@settings(max_examples=25, deadline=None)
@given(pin=pins_, typed=pins_)
def test_a_sealed_plain_hash_verifies_its_pin_and_only_it(pin, typed):
    sealed = seal_plain(hash_pin(pin, COST), pin_key())
    assert sealed.startswith(f"{KEYED}${COST}$") and verify_pin(typed, sealed) is (typed == pin)


@pytest.mark.parametrize("stored", ["", "garbage", f"{KEYED}$16$8$1$AAAA$AAAA", f"{PLAIN}$16$8$1$AAAA$AA=="])
def test_what_is_not_a_plain_hash_is_not_sealed(stored):
    assert seal_plain(stored, pin_key()) is None
