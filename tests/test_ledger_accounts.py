"""ledger.accounts: several accounts got or created in one query, in the order asked, like `account` each."""
from __future__ import annotations

from sqlalchemy import func, select

from enerlectra.db.models import Account, User
from enerlectra.domain import ledger
from tests.helpers import committed_only
from tests.test_ledger import Db


def test_accounts_gets_existing_creates_missing_in_the_order_asked():
    store = Db()

    async def run():
        async with committed_only(store.db) as s:
            owner = User(msisdn="+260971000007", country="ZM", currency="ZMW", language="en", name="U", pin_hash="x")
            s.add(owner)
            await s.flush()
            specs = [ledger.system_spec("fees", "ZMW"), ledger.user_energy_spec(owner.id),
                     ledger.system_spec("operator", "WH"), ledger.user_money_spec(owner.id, "ZMW"),
                     ledger.system_spec("fees", "ZMW")]
            before = await ledger.system(s, "fees", "ZMW")
            got = await ledger.accounts(s, specs)
            again = await ledger.accounts(s, specs)
        async with store.db() as s:
            return owner.id, before.id, got, again, await s.scalar(select(func.count()).select_from(Account))
    try:
        user_id, fees_id, got, again, count = store.run(run())
    finally:
        store.close()
    assert [(a.code, a.kind, a.asset, a.user_id, a.allow_negative) for a in got] == [
        ("system:fees:ZMW", "fees", "ZMW", None, False), (f"user:{user_id}:WH", "energy", "WH", user_id, False),
        ("system:operator:WH", "operator", "WH", None, True), (f"user:{user_id}:ZMW", "money", "ZMW", user_id, False),
        ("system:fees:ZMW", "fees", "ZMW", None, False)]
    assert got[0].id == got[4].id == fees_id and [a.id for a in again] == [a.id for a in got] and count == 4
