"""Attack review of the Redis breaker (enerlectra/redis_client.py, 4b03313): real Redis of the test's own
(tests/spawned_redis.py), hung with SIGSTOP and resumed with SIGCONT; nothing of ours mocked."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_pin
from enerlectra.redis_client import BREAK_SECONDS, READ_TIMEOUT, RedisHung
from tests import test_payments
from tests.test_money_integrity import FRIEND, PAYMENTS, books_ok, count
from tests.test_wallet import Phone
from ussd_app import appkeys

USER = test_payments.USER
mtn, airtel, pawapay = test_payments.mtn, test_payments.airtel, test_payments.pawapay     # the fakes
make_pay = test_payments.make_pay                                                       # the app on them


@pytest.fixture
def settings(settings, own_redis):
    """The app on a Redis of this test's own (to hang and resume)."""
    return settings.with_(redis_url=own_redis.url)


@pytest.fixture
async def payer(make_pay):
    client, fake, user = await make_pay("mtn")
    db = client.app[appkeys.DB]
    await users.register(db, parse_msisdn(FRIEND), "Chipo", "en", hash_pin("4826", 16))
    await wallet.credit(db, "fund", user, "ZMW", 100_000, "test")
    await wallet.credit(db, "fund-energy", user, ledger.ENERGY, 10_000, "test")
    return client, fake, user


async def _hiccup(client, own_redis) -> float:
    """Redis stops answering for READ_TIMEOUT (one command times out: the breaker opens), then answers again.
    Returns when Redis answers again (monotonic)."""
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(Exception) as timed_out:
            await client.app[appkeys.REDIS].get("t:review-breaker:probe")
        assert not isinstance(timed_out.value, RedisHung)        # a real timeout: it opened the breaker
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    return time.monotonic()


async def test_a_withdrawal_whose_provider_answered_after_redis_recovered_is_saved_not_apologised(payer,
                                                                                                  own_redis):
    # The provider answers at ~2.8 s; Redis stopped answering from 0.3 s to 2.3 s (one command timed out) and
    # answers again from 2.3 s. Without the breaker the hop's save at ~2.8 s reaches a healthy Redis and the
    # user reads "on its way". The breaker (open until ~3.3 s) refuses the save and the lock's release after
    # the money moved: the user reads "not available" for a withdrawal that was paid, and the session's lock
    # stays until its TTL (the aggregator's resend waits it out).
    client, fake, _user = payer
    fake.answer_after = READ_TIMEOUT + 0.8
    phone = Phone(client, USER)
    await phone.dial()
    await phone.press("2", "2", "20")
    phone.inputs.append("4826")
    first = asyncio.create_task(phone._post())
    await asyncio.sleep(0.3)
    recovered = await _hiccup(client, own_redis)
    reply = await first
    saved_at = time.monotonic()
    assert saved_at > recovered + 0.2, "the save must come after Redis answers again"
    assert len(fake.txns) == 1 and await count(client, PAYMENTS) == 1          # the money moved once
    assert "on its way" in reply, reply
    store = client.app[appkeys.ENGINE].store
    await asyncio.sleep(max(0.0, recovered + BREAK_SECONDS - time.monotonic()))     # past the breaker's second
    assert await store.redis.exists(store._key(phone.sid, "lock")) == 0       # the lock was released
    again = await phone._post()                                                # the aggregator's resend
    assert "on its way" in again and len(fake.txns) == 1 and await count(client, PAYMENTS) == 1
    await books_ok(client)
