"""Wallet operations on top of the ledger: balances, transfers with receipts, operator credits.

Each operation is one SQL transaction: the journal entry and the SMS receipts commit together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra import faults
from enerlectra.db.models import Account, User
from enerlectra.domain import audit, ledger, outbox
from enerlectra.domain.ledger import Leg
from enerlectra.domain.work import unit_of_work


@dataclass(frozen=True)
class Balances:
    currency: str
    money: int          # minor units
    energy: int         # Wh


# Built once: a statement reused is a cache hit without building its cache key again (read by a screen a hop).
_BALANCES = select(Account.code, Account.balance).where(
    or_(Account.code == bindparam("money"), Account.code == bindparam("energy")))


async def balances(db: AsyncSession, user_id: int, currency: str) -> Balances:
    """Read only: an account not opened yet holds nothing. `db`: a session or a connection."""
    money_code, energy_code = ledger.user_code(user_id, currency), ledger.user_code(user_id, ledger.ENERGY)
    held = dict((await db.execute(_BALANCES, {"money": money_code, "energy": energy_code})).all())
    return Balances(currency, held.get(money_code, 0), held.get(energy_code, 0))


@dataclass(frozen=True)
class TransferResult:
    entry_id: int
    created: bool
    sender_balance: int


async def transfer(db: async_sessionmaker, key: str, sender: User, recipient: User, amount: int, fee: int,
                   receipts: Callable[[int], tuple[str, str]] | None = None) -> TransferResult:
    """Move `amount` (+ `fee` to the fees account) from sender to recipient, once per `key`.

    `receipts(entry_id)` gives the two SMS texts (sender's, recipient's), each in its reader's language.
    Raises ledger.InsufficientFunds (nothing posted) when the sender cannot cover amount + fee.
    """
    if sender.currency != recipient.currency:
        raise ledger.LedgerError("cross-currency transfers are not supported")
    async with unit_of_work(db) as s:
        src = await ledger.user_money(s, sender.id, sender.currency)
        dst = await ledger.user_money(s, recipient.id, recipient.currency)
        legs = [Leg(src.id, -(amount + fee)), Leg(dst.id, amount)]
        if fee:
            legs.append(Leg((await ledger.system(s, "fees", sender.currency)).id, fee))
        posted = await ledger.post(s, key, "transfer", legs, memo=f"{sender.id}>{recipient.id}")
        if not posted.created:      # a repeat only if the key's entry is this transfer; else the caller says "sent"
            await ledger.same_entry(s, key, posted.entry_id, "transfer", legs)
        if posted.created and receipts is not None:
            to_sender, to_recipient = receipts(posted.entry_id)
            await outbox.add(s, sender.msisdn, to_sender, "receipt", essential=True,
                             dedupe_key=f"receipt:{posted.entry_id}:from")
            await outbox.add(s, recipient.msisdn, to_recipient, "receipt", essential=True,
                             dedupe_key=f"receipt:{posted.entry_id}:to")
        balance = await s.scalar(select(Account.balance).where(Account.id == src.id))
    return TransferResult(posted.entry_id, posted.created, balance)


KeyReused = ledger.KeyReused      # callers catch it here (the console, the CLI)


async def credit(db: async_sessionmaker, key: str, user: User, asset: str, amount: int, reason: str,
                 receipt: Callable[[int], str] | None = None, actor: audit.Actor = audit.CLI) -> ledger.Posted:
    """An audited operator credit (pilots without mobile money or meters): from the operator account.

    `receipt(entry_id)` is the owner's SMS, queued with the entry (sent after the commit when `db` has a job sink,
    else by the outbox sweeper). The audit row is written with the entry, once (a repeated key adds neither).
    The key again with the same user, asset and amount is the same credit (`created` False); with any other,
    KeyReused (nothing moves)."""
    async with unit_of_work(db) as s:
        target = (await ledger.user_energy(s, user.id) if asset == ledger.ENERGY
                  else await ledger.user_money(s, user.id, asset))
        source = await ledger.system(s, "operator", asset)
        legs = [Leg(source.id, -amount), Leg(target.id, amount)]
        posted = await ledger.post(s, key, "credit", legs, memo=reason[:200])
        if not posted.created:
            await ledger.same_entry(s, key, posted.entry_id, "credit", legs)
            return posted
        audit.record(s, actor, "ledger.credit", f"user:{user.id}",
                     after={"entry": posted.entry_id, "asset": asset, "amount": amount, "reason": reason})
        if receipt is not None:
            await outbox.add(s, user.msisdn, receipt(posted.entry_id), "receipt", essential=True,
                             dedupe_key=f"receipt:{posted.entry_id}:credit")
        faults.point("wallet.credit.before_commit")     # the process dies with the whole credit written, uncommitted
    return posted


async def find_user(db: async_sessionmaker, msisdn: str) -> User | None:
    async with db() as s:
        return await s.scalar(select(User).where(User.msisdn == msisdn))
