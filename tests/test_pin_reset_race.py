"""A PIN reset completed while a check of the old PIN runs (its KDF between the reserved try and the settle):
the reset's hold on money actions applies to that check too. Before, the old PIN, right when typed, opened
the money action the reset was there to stop (someone who knew the old PIN, mid-hop as the owner reset it).
An action the hold does not stop (hold=False) is still let through by the PIN right when typed."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from enerlectra.db.models import User
from enerlectra.domain import outbox, pin_code, pins, wallet
from enerlectra.domain.pin_code import hash_user_pin
from tests.test_wallet import register
from ussd_app import appkeys

COST = 16


async def _reset_to(db, user_id: int, new_hash: str) -> None:
    """What pin_resets.complete writes: the new PIN, the count and lock cleared, money actions held."""
    async with db() as s, s.begin():
        await s.execute(update(User).where(User.id == user_id).values(
            pin_hash=new_hash, pin_failures=0, pin_locked_until=None,
            pin_reset_hold_until=outbox.now() + timedelta(hours=24)))


@pytest.mark.parametrize("hold,ok", [(True, False), (False, True)])
async def test_a_reset_finished_during_the_check_holds_that_check(client, hold, ok):
    await register(client, "+260971900041", "Bupe")
    db = client.app[appkeys.DB]
    user = await wallet.find_user(db, "+260971900041")
    loop = asyncio.get_running_loop()
    done = []

    def reset_meanwhile(moment: str) -> None:          # in the KDF's thread, while the old PIN is checked
        if moment == "start" and not done:
            done.append(True)
            new = hash_user_pin("7391", COST, user.id)
            asyncio.run_coroutine_threadsafe(_reset_to(db, user.id, new), loop).result()

    pin_code.KDF_OBSERVERS.append(reset_meanwhile)
    try:
        checked = await pins.check(db, user.id, "4826", max_failures=3, lock_minutes=30,
                                   lock_sms=lambda u, t: "locked", cost=COST, hold=hold)
    finally:
        pin_code.KDF_OBSERVERS.remove(reset_meanwhile)
    assert done and checked.ok is ok
    if not ok:
        assert checked.held and checked.locked_until is not None
