"""SMS `SELL`/`BUY` + `YES <PIN>` interleaved with USSD spends, orders and cancels (a hypothesis state machine).

The SMS side goes through `sms.inbound.receive` (keyword parsing, the PIN checked before the transaction, the
book); the USSD side through what its screens call (`book.place`, `book.cancel`, `wallet.transfer`). After every
step: no open order holds less than its remaining quantity needs, escrow accounts match, Wh and money are
conserved, and the ledger verifies. The machine runs in a thread with its own event loop and engine; the database
(SQLite, or a PostgreSQL schema) lives across examples, so each example starts from whatever came before.
"""
from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select, update

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import Account, MarketOrder, User
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.market import book, texts
from enerlectra.domain.market.rules import MarketRules
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.settings import Settings
from sms.inbound import InboundSms, receive
from tests.helpers import committed_only

RULES = MarketRules()
SETTINGS = Settings(pin_kdf_cost=16, pin_lock_minutes=0)   # a lock lifts at once: keep every example trading
ENERGY, MONEY, TRADERS = 3_000, 30_00, 2
NUMBERS = [f"+26097{7000000 + n:07d}" for n in range(TRADERS)]

who = st.integers(0, TRADERS - 1)
kwh = st.integers(1, 40).map(lambda lots: f"{lots / 10:g}")          # 0.1 .. 4 kWh
price = st.integers(5, 20).map(lambda ticks: f"{ticks / 10:.2f}")     # K0.50 .. K2.00


class MarketBySms(RuleBasedStateMachine):
    url: str = ""
    schema: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = make_engine(self.url, schema=self.schema)
        self.db = make_sessionmaker(self.engine)
        self.traders = self.run(self._traders())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()

    async def _traders(self) -> list[User]:
        async with self.db() as s:
            found = list((await s.scalars(select(User).where(User.msisdn.in_(NUMBERS)).order_by(User.id))).all())
        if found:
            return found
        for n, msisdn in enumerate(NUMBERS):
            user = await users.register(self.db, parse_msisdn(msisdn), f"T{n}", "en",
                                        hash_user_pin("4826", 16))
            await wallet.credit(self.db, f"seed:e:{n}", user, ledger.ENERGY, ENERGY, "seed")
            await wallet.credit(self.db, f"seed:m:{n}", user, "ZMW", MONEY, "seed")
            found.append(user)
        async with committed_only(self.db) as s:
            await s.execute(update(User).where(User.msisdn.in_(NUMBERS)).values(sms_pin_enabled=True))
        return found

    def sms(self, n: int, text: str) -> None:
        self.run(receive(self.db, InboundSms(uuid.uuid4().hex, parse_msisdn(NUMBERS[n]), text), SETTINGS))

    # -- SMS ------------------------------------------------------------------------------------------

    @rule(n=who, amount=kwh, at=price)
    def sms_sell(self, n, amount, at):
        self.sms(n, f"SELL {amount} {at}")

    @rule(n=who, amount=kwh)
    def sms_buy(self, n, amount):
        self.sms(n, f"BUY {amount}")

    @rule(n=who, right=st.sampled_from([True, True, True, False]))      # now and then a wrong PIN
    def sms_yes(self, n, right):
        self.sms(n, "YES 4826" if right else "YES 1357")

    # -- what the USSD screens do ---------------------------------------------------------------------

    async def _place(self, n: int, side: str, lots: int, ticks: int, keep: bool) -> None:
        try:
            async with committed_only(self.db) as s:
                user = await s.get(User, self.traders[n].id)
                await book.place(s, f"ussd:{uuid.uuid4().hex}", user, side, lots * 100, ticks * 10, RULES,
                                 texts.messages(), keep_rest=keep)
        except ledger.InsufficientFunds:
            pass                                     # refused whole by the screen: nothing moved

    @rule(n=who, side=st.sampled_from(["buy", "sell"]), lots=st.integers(1, 40), ticks=st.integers(5, 20),
          keep=st.booleans())
    def ussd_order(self, n, side, lots, ticks, keep):
        self.run(self._place(n, side, lots, ticks, keep))

    async def _spend(self, n: int, to: int, share: int) -> None:
        sender, recipient = self.traders[n], self.traders[to]
        async with self.db() as s:
            held = (await wallet.balances(s, sender.id, "ZMW")).money
        if held and n != to:
            await wallet.transfer(self.db, f"ussd:{uuid.uuid4().hex}", sender, recipient, max(1, held * share // 4), 0)

    @rule(n=who, to=who, share=st.integers(1, 4))
    def ussd_send_money(self, n, to, share):
        self.run(self._spend(n, to, share))

    async def _cancel(self, n: int, index: int) -> None:
        async with committed_only(self.db) as s:
            user = await s.get(User, self.traders[n].id)
            ids = (await s.scalars(select(MarketOrder.id).where(MarketOrder.user_id == user.id,
                                                                MarketOrder.state == "open")
                                   .order_by(MarketOrder.id))).all()
            if ids:
                await book.cancel(s, user, ids[index % len(ids)])

    @rule(n=who, index=st.integers(0, 20))
    def ussd_cancel(self, n, index):
        self.run(self._cancel(n, index))

    # -- after every step -------------------------------------------------------------------------------

    async def _problems(self) -> tuple[list, dict]:
        async with self.db() as s:
            problems = await book.check_escrow(s, RULES) + await ledger.verify(s)
            totals = dict((await s.execute(select(Account.asset, func.sum(Account.balance)).where(
                Account.code.not_like("system:operator:%")).group_by(Account.asset))).all())
        return problems, totals

    @invariant()
    def books_straight(self):
        problems, totals = self.run(self._problems())
        assert problems == []
        assert (int(totals.get(ledger.ENERGY, 0)), int(totals.get("ZMW", 0))) == (TRADERS * ENERGY, TRADERS * MONEY)


async def test_sms_confirmations_interleaved_with_ussd_spends_never_leave_an_order_under_escrowed(database):
    MarketBySms.url, MarketBySms.schema = database
    run = settings(max_examples=30, stateful_step_count=15, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    await asyncio.to_thread(run_state_machine_as_test, MarketBySms, settings=run)
