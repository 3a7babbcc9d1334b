"""Review of 8510615 (user PINs verify only sealed; migration 0022 seals plain PINs without their PINs).

Threat model: whoever can write the users table, without the ledger key, must not be able to set a PIN they
know; `enerlectra db upgrade` without the key must say what to do in one line, not a traceback."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from enerlectra.db import migrate
from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import User
from enerlectra.domain import ledger, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_pin, hash_user_pin
from tests.test_cli import run_cli
from tests.test_review_pin_sealing import check

COST = 16


# Finding 1: a sealed hash is not bound to its user. An attacker registers an account of their own with a PIN
# they chose (or knows any user's PIN), copies that row's pin_hash onto the victim's row, and the victim's
# account now opens with the attacker's PIN: "set a PIN they know" without the key.
TRANSPLANTS = [
    ("the attacker's own sealed hash, same cost", lambda: hash_user_pin("4826", COST), "4826"),
    ("the attacker's own sealed hash, another cost", lambda: hash_user_pin("4826", 32), "4826"),
]


@pytest.mark.parametrize("name, attacker_hash, attacker_pin", TRANSPLANTS, ids=[t[0] for t in TRANSPLANTS])
async def test_a_sealed_hash_copied_from_another_user_opens_nothing(sessions, name, attacker_hash, attacker_pin):
    db = sessions
    attacker = await users.register(db, parse_msisdn("+260971830001"), "Mallory", "en", attacker_hash())
    victim = await users.register(db, parse_msisdn("+260971830002"), "Bupe", "en", hash_user_pin("3917", COST))
    assert (await check(db, attacker.id, attacker_pin)).ok
    async with db() as s, s.begin():                      # a write to the users table, no key needed
        stolen = await s.scalar(select(User.pin_hash).where(User.id == attacker.id))
        await s.execute(update(User).where(User.id == victim.id).values(pin_hash=stolen))
    assert not (await check(db, victim.id, attacker_pin)).ok, "the attacker's PIN opens the victim's account"


# Finding 2: `enerlectra db upgrade` without the key, on a database with plain PINs (every installation from
# before sealing), ends in ledger.NoKey's traceback, whose words ("call ledger.use_key(...) at start-up") are
# for a developer. It must be one line naming LEDGER_KEY, and change nothing.
async def test_db_upgrade_without_the_key_says_to_set_it(database, cli_env, monkeypatch):
    url, schema = database
    await asyncio.to_thread(migrate.downgrade, url, "0021", schema)
    engine = make_engine(url, schema=schema)
    try:
        plain = hash_pin("4826", COST)
        await users.register(make_sessionmaker(engine), parse_msisdn("+260971830011"), "Bupe", "en", plain)
    finally:
        await engine.dispose()
    (cli_env.home / "ledger.key").unlink(missing_ok=True)      # an external database, no key in this box
    monkeypatch.delenv("LEDGER_KEY", raising=False)
    mine = ledger.use_key(None)
    try:
        code, out, err = await run_cli("db", "upgrade")
    finally:
        ledger.use_key(mine)
    assert "Traceback" not in out + err, err
    assert code == 1 and "LEDGER_KEY" in err.strip().splitlines()[-1], (code, out, err)
    engine = make_engine(url, schema=schema)
    try:
        async with make_sessionmaker(engine)() as s:
            assert await s.scalar(select(User.pin_hash)) == plain          # nothing written without the key
    finally:
        await engine.dispose()
