"""A rental's money, through the ledger only, integer minor units, one entry (one key) per step:

- rent: the deposit, user -> system:rental_deposits (held), key "{request key}:deposit";
- eject failed: the whole deposit back, key rental:{id}:release;
- returned (billing.settle's figures): held -> revenue (from_deposit), held -> user (released), user -> revenue
  (owed, only what the wallet holds: the rest stays recorded as `owed` on the rental), key rental:{id}:settle;
- lost: the same with billing's lost bill, key rental:{id}:settle too, so a rental is settled once whatever
  ends it (a return and a loss can never both be charged);
- found (a lost bank back in time, found.py): revenue -> user, what the lost bill took beyond a late return's
  bill and the debt, key rental:{id}:found;
- extension: user -> revenue, the price billing gives, under the key of the renter's request;
- a debt (`owed` a settle left on an earlier rental): user -> revenue when the renter rents again, before the
  deposit, key "{request key}:owed:{rental id}" (pay_debts).

`check_deposits` (ledger verify runs it) proves the held account equals the deposits of open rentals.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.checks import Problem
from enerlectra.db.models import Account, Rental
from enerlectra.domain import ledger
from enerlectra.domain.ledger import Leg, Posted
from enerlectra.domain.rentals.billing import Bill

DEPOSITS, REVENUE = "rental_deposits", "rental_revenue"
OPEN = ("ejecting", "active")


class Short(Exception):
    """The wallet cannot pay the renter's debts and the deposit: `owed` in all, `missing` what it lacks."""

    def __init__(self, owed: int, missing: int):
        super().__init__(f"owes {owed}, {missing} missing")
        self.owed, self.missing = owed, missing


@dataclass(frozen=True)
class Debt:
    """An earlier rental's debt paid (pay_debts)."""
    ref: str
    amount: int
    entry_id: int


async def _accounts(s: AsyncSession, user_id: int, currency: str) -> tuple[Account, Account, Account]:
    user, held, revenue = await ledger.accounts(s, [ledger.user_money_spec(user_id, currency),
                                                    ledger.system_spec(DEPOSITS, currency),
                                                    ledger.system_spec(REVENUE, currency)])
    return user, held, revenue


async def wallet_balance(s: AsyncSession, user_id: int, currency: str) -> int:
    return await s.scalar(select(Account.balance).where(
        Account.code == ledger.user_code(user_id, currency))) or 0


async def hold_deposit(s: AsyncSession, key: str, user_id: int, currency: str, amount: int) -> Posted:
    """Raises ledger.InsufficientFunds (nothing written) when the wallet holds less."""
    user, held, _ = await _accounts(s, user_id, currency)
    return await ledger.post(s, f"{key}:deposit", "rental_deposit", [Leg(user.id, -amount), Leg(held.id, amount)],
                             memo="power bank deposit held")


async def release(s: AsyncSession, rental: Rental) -> Posted:
    """Nothing came out: the whole deposit back."""
    user, held, _ = await _accounts(s, rental.user_id, rental.currency)
    return await ledger.post(s, f"rental:{rental.id}:release", "rental_release",
                             [Leg(held.id, -rental.deposit), Leg(user.id, rental.deposit)],
                             memo=f"{rental.ref}: no bank ejected, deposit back")


async def settle(s: AsyncSession, rental: Rental, bill: Bill) -> tuple[Posted, int]:
    """The bill against the deposit and the wallet: (the entry, what stays owed). The caller holds the rental's
    row lock; the wallet's row is locked here before its balance is read, so `paid` never overdraws it."""
    user, held, revenue = await _accounts(s, rental.user_id, rental.currency)
    # All three in id order, as ledger.post locks: the wallet alone first, then revenue at the post, deadlocked
    # on PostgreSQL with the same renter's found refund (revenue, then wallet) of another rental.
    balance = dict((await s.execute(select(Account.id, Account.balance).where(
        Account.id.in_((user.id, held.id, revenue.id))).order_by(Account.id).with_for_update())).all())[user.id]
    # the released deposit comes back in the same entry: it may pay what is owed beyond it (it never does:
    # billing releases only when nothing is owed)
    paid = min(bill.owed, balance + bill.released)
    legs = [Leg(held.id, -bill.deposit), Leg(revenue.id, bill.from_deposit + paid),
            Leg(user.id, bill.released - paid)]
    posted = await ledger.post(s, f"rental:{rental.id}:settle", "rental_settle", legs,
                               memo=f"{rental.ref}: {'lost' if bill.lost else 'returned'}, {bill.total} billed")
    return posted, bill.owed - paid


async def owed_total(s: AsyncSession, user_id: int, currency: str) -> int:
    """What the user's earlier rentals still owe in `currency` (pay_debts collects it at the next rent)."""
    return int(await s.scalar(select(func.sum(Rental.owed)).where(   # PostgreSQL sums a BIGINT as a numeric
        Rental.user_id == user_id, Rental.currency == currency, Rental.owed > 0)) or 0)


async def pay_debts(s: AsyncSession, key: str, user_id: int, currency: str, deposit: int) -> list[Debt]:
    """Every earlier rental of the user still owing in `currency`, paid in full from the wallet, each by its own
    entry, its `owed` set to 0: the debts paid. Raises Short (nothing written) when the wallet holds less than
    the debts and `deposit` together. Locks the owing rentals (id order), then the accounts (id order, as
    ledger.post and settle lock): after the caller's station and bank locks, the order a return or a found
    refund takes (bank, rental, accounts)."""
    owing = (await s.execute(select(Rental).where(Rental.user_id == user_id, Rental.currency == currency,
                                                  Rental.owed > 0).order_by(Rental.id).with_for_update()
                             .execution_options(populate_existing=True))).scalars().all()
    if not owing:
        return []
    user, held, revenue = await _accounts(s, user_id, currency)
    balance = dict((await s.execute(select(Account.id, Account.balance).where(
        Account.id.in_((user.id, held.id, revenue.id))).order_by(Account.id).with_for_update())).all())[user.id]
    total = sum(r.owed for r in owing)
    if balance < total + deposit:
        raise Short(total, total + deposit - balance)
    paid = []
    for rental in owing:
        posted = await ledger.post(s, f"{key}:owed:{rental.id}", "rental_owed",
                                   [Leg(user.id, -rental.owed), Leg(revenue.id, rental.owed)],
                                   memo=f"{rental.ref}: owed, paid at the next rent")
        paid.append(Debt(rental.ref, rental.owed, posted.entry_id))
        # recorded on the settled bill (a found refund later reads rental.owed: 0, so it pays all of it back)
        rental.bill = {**(rental.bill or {}), "owed_paid": rental.owed, "owed_paid_entry": posted.entry_id}
        rental.owed = 0
    return paid


async def charge_extension(s: AsyncSession, key: str, rental: Rental, price: int) -> Posted:
    """Raises ledger.InsufficientFunds (nothing written) when the wallet holds less."""
    user, _, revenue = await _accounts(s, rental.user_id, rental.currency)
    return await ledger.post(s, f"{key}:extend", "rental_extend", [Leg(user.id, -price), Leg(revenue.id, price)],
                             memo=f"{rental.ref}: extended")


async def check_deposits(s: AsyncSession) -> list[Problem]:
    """Per currency: what system:rental_deposits holds equals the deposits of open (ejecting, active) rentals."""
    held = dict((await s.execute(select(Rental.currency, func.sum(Rental.deposit))
                                 .where(Rental.state.in_(OPEN)).group_by(Rental.currency))).all())
    accounts = dict((await s.execute(select(Account.asset, Account.balance).where(
        Account.code.like(ledger.system_code(DEPOSITS, "%"))))).all())
    return [Problem(ledger.system_code(DEPOSITS, currency),
                    f"holds {accounts.get(currency, 0)} but open rentals' deposits are {held.get(currency, 0)}")
            for currency in sorted(set(held) | set(accounts))
            if (accounts.get(currency, 0) or 0) != (held.get(currency, 0) or 0)]
