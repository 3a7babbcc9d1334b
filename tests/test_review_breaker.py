"""Attack review of the Redis breaker (enerlectra/redis_client.py, 4b03313): real Redis of the test's own
(tests/spawned_redis.py), hung with SIGSTOP and resumed with SIGCONT; nothing of ours mocked."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from enerlectra.redis_client import BREAK_SECONDS, READ_TIMEOUT, RedisHung, TimeoutError, async_client
from tests import test_payments
from tests.test_money_integrity import PAYMENTS, books_ok, count, funded, withdrawal_in_flight
from ussd_app import appkeys
from ussd_app.engine.store import SessionStore

mtn, airtel, pawapay = test_payments.mtn, test_payments.airtel, test_payments.pawapay     # the fakes
make_pay = test_payments.make_pay                                                       # the app on them


@pytest.fixture
def settings(settings, own_redis):
    """The app on a Redis of this test's own (to hang and resume)."""
    return settings.with_(redis_url=own_redis.url)


@pytest.fixture
async def payer(make_pay):
    return await funded(*await make_pay("mtn"))


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
    phone, first = await withdrawal_in_flight(client, fake, READ_TIMEOUT + 0.8)
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


async def test_a_held_locks_renewal_and_release_reach_a_recovered_redis_inside_the_breakers_second(own_redis):
    # A hop under way when Redis hiccuped holds its session's lock: the renewal that keeps it while a provider
    # answers, and its release, are not new work to shed. On 4b03313 both failed with RedisHung: the renewal
    # task died (the lock lapses mid-hop and a resend runs the step beside it), the release left the lock for
    # its TTL (the aggregator's resend waits it out).
    client = async_client(own_redis.url)
    store = SessionStore(client, "t:review-breaker:", 60, 600, 3000, 2000)
    try:
        loaded = await store.acquire("sid-1", "h1")
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError) as timed_out:
                await client.get("t:review-breaker:probe")
            assert not isinstance(timed_out.value, RedisHung)
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        with pytest.raises(RedisHung):
            await client.get("t:review-breaker:probe")        # new work is still shed
        renewal = asyncio.create_task(store.keep_alive("sid-1", loaded.token, wait_first=False))
        await asyncio.sleep(0.1)
        assert not renewal.done(), renewal.exception()          # still renewing: the extend reached Redis
        renewal.cancel()
        await store.release("sid-1", loaded.token)
        await asyncio.sleep(BREAK_SECONDS)                    # past the breaker's second: the test's own read
        lock_left = await client.exists(store._key("sid-1", "lock"))
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        await asyncio.sleep(BREAK_SECONDS)
        await client.delete(store._key("sid-1", "lock"))
        await client.aclose()
    assert lock_left == 0
