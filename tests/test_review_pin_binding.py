"""Review of 8510615..19ba37d (user PINs bound to their user id: scrypt-k2; migration 0022 binds).

Threat model: whoever can write the users table (no key) must not open an account with a PIN they know; no
user may lose access through the migration or the normal flows.

Its finding 1 (a database upgraded by 8510615, whose 0022 stored sealed but unbound PINs, would keep them
unbound, as 0022 was rewritten in place) is moot: 8510615 never landed (its stop's CI was red) and lands with
the rewrite, and 0022 binds unbound sealed values too (tests/test_pin_seal_migration.py)."""
from __future__ import annotations

from sqlalchemy import select, update

from enerlectra.db.models import User
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests.test_review_pin_sealing import check

COST = 16


# Finding 2 (SQLite): the MAC binds the row's id, and SQLite handed a deleted highest id to the next row
# (INTEGER PRIMARY KEY without AUTOINCREMENT). Whoever can write the users table registered an account of their
# own (the newest), kept its bound value, deleted the row; the next person to register got that id, and the
# kept value, written onto their row, opened it with the writer's PIN. Closed by migration 0023: ids are never
# reused (AUTOINCREMENT on SQLite; PostgreSQL's sequence never reused one), tests/test_user_ids_never_reused.py.
async def test_a_bound_value_of_a_deleted_user_opens_nothing_on_a_reused_id(sessions):
    from sqlalchemy import delete
    mallory = await users.register(sessions, parse_msisdn("+260971840011"), "Mallory", "en",
                                   hash_user_pin("4826", COST))
    async with sessions() as s, s.begin():                # a write to the users table, no key needed
        kept = await s.scalar(select(User.pin_hash).where(User.id == mallory.id))
        await s.execute(delete(User).where(User.id == mallory.id))
    victim = await users.register(sessions, parse_msisdn("+260971840012"), "Bupe", "en", hash_user_pin("3917", COST))
    assert (await check(sessions, victim.id, "3917")).ok
    async with sessions() as s, s.begin():
        await s.execute(update(User).where(User.id == victim.id).values(pin_hash=kept))
    assert not (await check(sessions, victim.id, "4826")).ok, f"id {victim.id} reused: Mallory's PIN opens Bupe's"
