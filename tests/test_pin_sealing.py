"""User PINs are sealed with a key kept outside the database (enerlectra/domain/pin_code.py, issue 18).

A copy of the database alone cannot test a PIN: the stored value is HMAC(key, scrypt(pin)), the key derived
from the installation's ledger key, and bound to the user's id. A user PIN verifies only bound to its own user
(plain scrypt is an operator password's scheme, a bare sealed value a first entry's; migration 0022 bound the
old plain PINs: tests/test_pin_seal_migration.py). One sealed at another
cost is sealed again, once, when typed right; a PIN changed meanwhile is never overwritten; a process without
the key refuses to verify rather than answer wrong."""
from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, update

from enerlectra.db.models import User
from enerlectra.domain import ledger, pin_code, pins, wallet
from enerlectra.domain.pin_code import (BOUND, KEYED, PLAIN, hash_pin, hash_user_pin, needs_sealing,
                                        verify_entry, verify_password, verify_pin)
from enerlectra.settings import Settings
from tests.test_wallet import register
from ussd_app import appkeys

COST = 16
UID = 7                 # a user id, for the tests of values alone
PINS = st.from_regex(r"[0-9]{4}", fullmatch=True)


def test_a_bound_hash_verifies_the_same_pin_of_the_same_user_only_and_carries_its_cost():
    stored = hash_user_pin("4826", COST, UID)
    assert stored.startswith(f"{BOUND}${COST}$8$1$")
    assert verify_pin("4826", stored, UID) and not verify_pin("4827", stored, UID)
    assert not verify_pin("4826", stored, UID + 1), "bound to its user"
    assert hash_user_pin("4826", COST, UID) != stored, "salted"


@hsettings(max_examples=60, deadline=None)
@given(PINS, PINS, st.integers(1, 2**31), st.integers(1, 2**31))
def test_a_bound_hash_verifies_exactly_its_pin_for_exactly_its_user(pin, typed, owner, asker):
    assert verify_pin(typed, hash_user_pin(pin, COST, owner), asker) == (typed == pin and asker == owner)


def test_a_first_entry_is_sealed_but_is_no_user_pin():
    entry = hash_user_pin("4826", COST)
    assert entry.startswith(f"{KEYED}${COST}$") and verify_entry("4826", entry) and not verify_entry("4827", entry)
    assert not verify_pin("4826", entry, UID)


def test_without_the_key_a_copy_of_the_database_cannot_test_a_pin():
    stored = hash_user_pin("4826", COST, UID)
    mine = ledger.use_key(os.urandom(32))          # another installation's key: the copy's owner has no other
    try:
        assert not any(verify_pin(f"{n:04d}", stored, UID) for n in range(10_000))
    finally:
        ledger.use_key(mine)
    assert verify_pin("4826", stored, UID)


def test_a_process_without_the_key_refuses_to_verify_rather_than_answer_no():
    stored = hash_user_pin("4826", COST, UID)
    mine = ledger.use_key(None)
    try:
        with pytest.raises(ledger.NoKey):
            verify_pin("4826", stored, UID)
        assert verify_password("4826", hash_pin("4826", COST))     # plain scrypt (console passwords) needs no key
    finally:
        ledger.use_key(mine)


@pytest.mark.parametrize("stored,cost,again", [
    (f"{PLAIN}$16$8$1$salt$value", 16, True),        # the older scheme
    (f"{KEYED}$16$8$1$salt$value", 16, True),        # a first entry: never a user's PIN
    (f"{BOUND}$32$8$1$salt$value", 16, True),        # at another cost
    (f"{BOUND}$16$8$1$salt$value", 16, False),
    (f"{BOUND}$16$4$1$salt$value", 16, True),        # another block size
])
def test_which_stored_pins_are_sealed_again(stored, cost, again):
    assert needs_sealing(stored, cost) is again


def test_production_pins_are_sealed_at_a_cost_a_hop_can_afford():
    assert Settings().pin_kdf_cost == Settings.from_env({}).pin_kdf_cost == 2**11


async def set_hash(db, user_id: int, value: str) -> None:
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user_id).values(pin_hash=value))


async def stored_hash(client, msisdn: str) -> str:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(select(User.pin_hash).where(User.msisdn == msisdn))


async def check(client, user_id: int, pin: str, cost: int | None = COST):
    return await pins.check(client.app[appkeys.DB], user_id, pin, max_failures=3, lock_minutes=30,
                            lock_sms=lambda u, until: "locked", cost=cost)


async def test_a_pin_set_by_ussd_is_stored_sealed_and_bound(client):
    await register(client, "+260971900021", "Bupe")
    stored = await stored_hash(client, "+260971900021")
    user = await wallet.find_user(client.app[appkeys.DB], "+260971900021")
    assert stored.startswith(f"{BOUND}${COST}$")
    assert verify_pin("4826", stored, user.id) and not verify_pin("4826", stored, user.id + 1)


@pytest.mark.parametrize("before_cost,typed,cost,sealed_after", [
    (32, "4826", COST, True),       # sealed at another cost, right: sealed again at today's
    (32, "1111", COST, False),      # at another cost, wrong: left as it was
    (COST, "4826", COST, False),    # already as wanted: not written
    (32, "4826", None, False),      # a caller that names no cost: nothing sealed
])
async def test_a_right_pin_stored_at_another_cost_is_sealed_again_once(client, before_cost, typed, cost,
                                                                       sealed_after):
    await register(client, "+260971900022", "Bupe")
    user = await wallet.find_user(client.app[appkeys.DB], "+260971900022")
    old = hash_user_pin("4826", before_cost, user.id)
    await set_hash(client.app[appkeys.DB], user.id, old)
    checked = await check(client, user.id, typed, cost)
    assert checked.ok is (typed == "4826")
    now = await stored_hash(client, "+260971900022")
    assert (now != old) is sealed_after
    assert verify_pin("4826", now, user.id) and not verify_pin("1111", now, user.id)
    if sealed_after:
        assert now.startswith(f"{BOUND}${COST}$")
        assert (await check(client, user.id, "4826")).ok
        assert await stored_hash(client, "+260971900022") == now          # once


async def test_a_pin_changed_while_the_old_one_is_checked_is_not_overwritten(client):
    await register(client, "+260971900023", "Bupe")
    db = client.app[appkeys.DB]
    user = await wallet.find_user(db, "+260971900023")
    await set_hash(db, user.id, hash_user_pin("4826", 32, user.id))
    changed = hash_user_pin("7391", COST, user.id)
    loop = asyncio.get_running_loop()

    def change_meanwhile(moment: str) -> None:      # in the KDF's thread, while the typed PIN is checked
        if moment == "start" and not getattr(change_meanwhile, "done", False):
            change_meanwhile.done = True
            asyncio.run_coroutine_threadsafe(set_hash(db, user.id, changed), loop).result()

    pin_code.KDF_OBSERVERS.append(change_meanwhile)
    try:
        assert (await check(client, user.id, "4826")).ok           # right when typed: the old PIN
    finally:
        pin_code.KDF_OBSERVERS.remove(change_meanwhile)
    assert await stored_hash(client, "+260971900023") == changed


def _with(stored: str, field: int, value: str) -> str:
    parts = stored.split("$")
    parts[field] = value
    return "$".join(parts)


HASHES = {BOUND: lambda: hash_user_pin("4826", COST, UID), KEYED: lambda: hash_user_pin("4826", COST),
          PLAIN: lambda: hash_pin("4826", COST)}
VERIFIERS = {BOUND: lambda pin, stored: verify_pin(pin, stored, UID), KEYED: verify_entry, PLAIN: verify_password}


@pytest.mark.parametrize("scheme", list(HASHES))
@pytest.mark.parametrize("change", [
    (3, "16000"),                      # p: a value set by hand that would hold a KDF thread for minutes
    (2, "4"),                          # r other than ours
    (5, "AA=="),                       # a one-byte key: a wrong PIN would match 1 time in 256
    (5, ""),
    (0, "md5"),
    (1, "x"),
])
def test_a_stored_value_hash_pin_never_writes_is_refused_without_running_it(scheme, change):
    stored = HASHES[scheme]()
    assert VERIFIERS[scheme]("4826", stored)
    assert not VERIFIERS[scheme]("4826", _with(stored, *change))


@pytest.mark.parametrize("stored_as", list(HASHES))
@pytest.mark.parametrize("checked_as", list(VERIFIERS))
def test_the_schemes_never_cross(stored_as, checked_as):
    """A plain hash or a first entry (written into the users table without the key) is no user PIN, a user's
    PIN no operator password, and so on: each verifier takes its own scheme only."""
    assert VERIFIERS[checked_as]("4826", HASHES[stored_as]()) is (stored_as == checked_as)
