"""No write transaction is open while a PIN's KDF runs (issue 18): on SQLite it would hold the one writer lock, on
PostgreSQL row locks, for the tens of milliseconds scrypt takes, and every other money step would queue behind it.

Each money path runs through the real app once; a test-only observer of real events watches: SQLAlchemy's
begin / commit / rollback on the app's writing engine count the transactions open, and the KDF's own observer
hook (`pin_code.KDF_OBSERVERS`, called in the KDF thread as it starts and ends) records that count.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

import pytest
from sqlalchemy import event, select, text, update

from enerlectra.db.models import User
from enerlectra.domain import ledger, pin_code, users, wallet
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin, verify_pin_async
from enerlectra.domain.work import unit_of_work
from tests.test_market import energize, sms_pin_on, sms_to
from tests.test_payments import USER, airtel, make_pay, mtn, pawapay, pay  # noqa: F401  fixtures
from tests.test_sms_webhooks import sms
from tests.test_wallet import Phone
from ussd_app import appkeys

FRIEND = "+260961900013"
FIXTURES = (airtel, make_pay, mtn, pawapay, pay)      # the payment fixtures this module's tests use (pytest finds them)


class Watch:
    """Transactions open on one engine, as its events say, and what each KDF start and end saw of them."""

    def __init__(self, engine):
        self.engine, self.open, self.seen = engine.sync_engine, set(), []
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        pin_code.KDF_OBSERVERS.append(self._kdf)

    def _begin(self, conn) -> None:
        self.open.add(id(conn))

    def _end(self, conn) -> None:
        self.open.discard(id(conn))

    def _kdf(self, moment: str) -> None:
        self.seen.append((moment, len(self.open)))

    def close(self) -> None:
        pin_code.KDF_OBSERVERS.remove(self._kdf)
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)


@pytest.fixture
async def world(pay):
    """The MTN-paying app, its user funded in money and energy, a friend with kWh on the book to buy."""
    client, fake, user = pay
    db = client.app[appkeys.DB]
    await users.register(db, parse_msisdn(FRIEND), "Chipo", "en", hash_user_pin("4826", 16))
    await wallet.credit(db, "fund", user, "ZMW", 100_000, "test")
    await wallet.credit(db, "fund-energy", user, ledger.ENERGY, 10_000, "test")
    await energize(client, FRIEND, 5_000)
    friend = Phone(client, FRIEND)
    await friend.dial()
    assert "Listed" in await friend.press("5", "1", "2", "1.00", "3", "4826")
    watch = Watch(client.app[appkeys.DB_ENGINE])
    yield client, watch
    watch.close()


async def ussd(client, *keys: str) -> str:
    phone = Phone(client, USER)
    await phone.dial()
    return await phone.press(*keys)


async def by_sms(client, text: str) -> str:
    await client.post("/sms/africastalking/inbound", data=sms(text, sender=USER, provider_id=uuid.uuid4().hex))
    return (await sms_to(client, USER))[-1]


async def send(client) -> str:
    return await ussd(client, "1", "2", "0961900013", "10", "4826")


async def withdraw(client) -> str:
    return await ussd(client, "2", "2", "20", "4826")


async def sell(client) -> str:
    return await ussd(client, "5", "1", "1", "1.20", "3", "4826")


async def buy(client) -> str:
    return await ussd(client, "5", "2", "1", "4826")


async def send_with_a_pin_stored_the_old_way(client) -> str:
    """The PIN (sealed at another cost) checked, then sealed again at today's cost (pin_code): two KDF runs,
    neither in a transaction."""
    async with client.app[appkeys.DB]() as s, s.begin():
        user_id = await s.scalar(select(User.id).where(User.msisdn == USER))
        await s.execute(update(User).where(User.id == user_id).values(pin_hash=hash_user_pin("4826", 32, user_id)))
    return await send(client)


async def wrong_pin(client) -> str:
    return await ussd(client, "1", "2", "0961900013", "10", "1111")


async def change_pin(client) -> str:
    return await ussd(client, "3", "2", "4826", "7391", "7391")


async def contribute_and_propose_a_payout(client) -> str:
    assert "created" in (await ussd(client, "6", "1", "Solar Club", "1", "Kabwe", "50", "1")).lower()
    assert "4826" not in await ussd(client, "6", "1", "30", "4826")
    return await ussd(client, "6", "4", "1", "Battery", "0961900013", "10", "1", "4826")


async def sell_by_sms_with_yes(client) -> str:
    await sms_pin_on(Phone(client, USER))
    assert "Reply YES" in await by_sms(client, "SELL 1 1.30")
    return await by_sms(client, "YES 4826")


@dataclass(frozen=True)
class Path:
    label: str
    run: Callable[[object], Awaitable[str]]
    says: str
    kdfs: int                   # KDF runs on the way (a PIN change: the old PIN, the new one hashed, checked)


PATHS = [
    Path("send", send, "Sent K10.00", 1),
    Path("send, the PIN stored the old way", send_with_a_pin_stored_the_old_way, "Sent K10.00", 2),
    Path("withdraw", withdraw, "on its way", 1),
    Path("sell", sell, "Listed", 1),
    Path("buy", buy, "Bought", 1),
    Path("wrong PIN", wrong_pin, "2 tries left", 1),
    Path("change PIN", change_pin, "PIN", 3),
    Path("cluster contribution and payout proposal", contribute_and_propose_a_payout, "#1", 2),
    Path("YES <PIN> by SMS", sell_by_sms_with_yes, "is listed", 2),     # sms_pin_on asks the PIN too
]


@pytest.mark.parametrize("path", PATHS, ids=[p.label for p in PATHS])
async def test_no_write_transaction_is_open_while_the_kdf_runs(world, path):
    client, watch = world
    said = await path.run(client)
    assert path.says in said, said
    assert len(watch.seen) == 2 * path.kdfs, watch.seen            # the observer saw every KDF start and end
    assert all(open_ == 0 for _moment, open_ in watch.seen), watch.seen


async def test_the_watch_sees_a_kdf_run_inside_a_transaction(world):
    """The instrument itself: a KDF run inside a unit of work (what the money paths must never do) is seen."""
    client, watch = world
    async with unit_of_work(client.app[appkeys.DB]) as s:
        await s.execute(text("SELECT 1"))
        assert await verify_pin_async("4826", hash_user_pin("4826", 16, 1), 1)
    assert watch.seen == [("start", 1), ("end", 1)]
