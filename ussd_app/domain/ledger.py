"""The double-entry ledger. Every movement is one journal entry whose postings sum to zero per asset.

Rules kept here, for every caller (wallet, market, payments, clusters):
- integer minor units and integer Wh only;
- an idempotency key per entry: posting again with the same key returns the first entry, posts nothing;
- accounts are locked in id order (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions are
  BEGIN IMMEDIATE, one writer), then the chain head: no deadlocks, no lost updates;
- no balance below zero unless the account allows it (clearing accounts); balances are a column updated
  in the same transaction as the postings;
- each entry's hash covers the previous entry's hash and its own canonical content.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_app.checks import Problem
from ussd_app.db.models import Account, JournalEntry, LedgerHead, Posting

ENERGY = "WH"
GENESIS = "0" * 64


class LedgerError(Exception):
    pass


class Unbalanced(LedgerError):
    """Postings that do not sum to zero per asset: a bug in the caller, never posted."""


class InsufficientFunds(LedgerError):
    def __init__(self, account_code: str, balance: int, needed: int):
        super().__init__(f"{account_code}: balance {balance}, needs {needed}")
        self.account_code, self.balance, self.needed = account_code, balance, needed


@dataclass(frozen=True)
class Leg:
    account_id: int
    amount: int            # + into the account, - out of it


@dataclass(frozen=True)
class Posted:
    entry_id: int
    created: bool          # False: the idempotency key was used before; nothing was posted now


# -- accounts ------------------------------------------------------------------------------------

def user_code(user_id: int, asset: str) -> str:
    return f"user:{user_id}:{asset}"


def system_code(name: str, asset: str) -> str:
    return f"system:{name}:{asset}"


async def account(db: AsyncSession, code: str, kind: str, asset: str, user_id: int | None = None,
                  allow_negative: bool = False) -> Account:
    """Get or create an account by its code (safe against a concurrent creation)."""
    found = await db.scalar(select(Account).where(Account.code == code))
    if found is not None:
        return found
    try:
        async with db.begin_nested():
            created = Account(code=code, kind=kind, asset=asset, user_id=user_id, allow_negative=allow_negative,
                              balance=0)
            db.add(created)
        return created
    except IntegrityError:
        return await db.scalar(select(Account).where(Account.code == code))


async def user_money(db: AsyncSession, user_id: int, currency: str) -> Account:
    return await account(db, user_code(user_id, currency), "money", currency, user_id)


async def user_energy(db: AsyncSession, user_id: int) -> Account:
    return await account(db, user_code(user_id, ENERGY), "energy", ENERGY, user_id)


async def system(db: AsyncSession, name: str, asset: str) -> Account:
    """System accounts: `fees`, `escrow`, ... never negative; `clearing:*` and `operator` may be."""
    may_go_negative = name.startswith("clearing") or name == "operator"
    return await account(db, system_code(name, asset), name.split(":")[0], asset, None, may_go_negative)


# -- posting -------------------------------------------------------------------------------------

def canonical(key: str, kind: str, memo: str, postings: list[tuple[int, str, int]]) -> str:
    return json.dumps({"key": key, "kind": kind, "memo": memo, "postings": sorted(postings)},
                      separators=(",", ":"), sort_keys=True)


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


async def _lock(db: AsyncSession, account_ids: list[int]) -> dict[int, Account]:
    rows = (await db.scalars(select(Account).where(Account.id.in_(account_ids)).order_by(Account.id)
                             .with_for_update().execution_options(populate_existing=True))).all()
    return {a.id: a for a in rows}


async def post(db: AsyncSession, key: str, kind: str, legs: list[Leg], memo: str = "") -> Posted:
    """Post one entry inside the caller's transaction (the caller commits, with its outbox rows).

    Raises Unbalanced or InsufficientFunds without writing anything.
    """
    seen = await db.scalar(select(JournalEntry.id).where(JournalEntry.idempotency_key == key))
    if seen is not None:
        return Posted(seen, created=False)
    merged: dict[int, int] = defaultdict(int)
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise Unbalanced(f"amounts are integers, got {leg.amount!r}")
        merged[leg.account_id] += leg.amount
    accounts = await _lock(db, sorted(merged))
    if len(accounts) != len(merged):
        raise LedgerError(f"unknown account in {sorted(merged)}")
    per_asset: dict[str, int] = defaultdict(int)
    for account_id, amount in merged.items():
        per_asset[accounts[account_id].asset] += amount
    if any(per_asset.values()):
        raise Unbalanced(f"{key}: postings sum to {dict(per_asset)}")
    for account_id, amount in merged.items():
        acc = accounts[account_id]
        if acc.balance + amount < 0 and not acc.allow_negative:
            raise InsufficientFunds(acc.code, acc.balance, -amount)
    # The chain head is locked last and held briefly: four statements, then the caller's commit.
    head = (await db.execute(select(LedgerHead.last_hash).where(LedgerHead.id == 1).with_for_update())).scalar_one()
    moved = {a: n for a, n in merged.items() if n}
    content = canonical(key, kind, memo, [(a, accounts[a].asset, n) for a, n in moved.items()])
    entry_hash = chain_hash(head, content)
    entry_id = await db.scalar(insert(JournalEntry).values(idempotency_key=key, kind=kind, memo=memo,
                                                           prev_hash=head, hash=entry_hash)
                               .returning(JournalEntry.id))
    if moved:     # legs that cancel out (an account paying itself) leave an entry with no postings
        await db.execute(insert(Posting), [{"entry_id": entry_id, "account_id": a, "asset": accounts[a].asset,
                                            "amount": n} for a, n in sorted(moved.items())])
        await db.execute(update(Account).where(Account.id.in_(list(moved)))
                         .values(balance=Account.balance + case(moved, value=Account.id))
                         .execution_options(synchronize_session=False))
    await db.execute(update(LedgerHead).where(LedgerHead.id == 1).values(last_entry_id=entry_id, last_hash=entry_hash))
    return Posted(entry_id, created=True)


# -- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryLine:
    entry_id: int
    kind: str
    memo: str
    amount: int
    asset: str
    when: object           # datetime


async def history(db: AsyncSession, account_codes: list[str], limit: int = 20) -> list[HistoryLine]:
    """Read only: the newest postings to these accounts, newest first."""
    rows = (await db.execute(
        select(JournalEntry.id, JournalEntry.kind, JournalEntry.memo, Posting.amount, Posting.asset,
               JournalEntry.created_at)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.code.in_(account_codes))
        .order_by(JournalEntry.id.desc(), Posting.id).limit(limit))).all()
    return [HistoryLine(*r) for r in rows]


# -- verifying -----------------------------------------------------------------------------------

async def verify(db: AsyncSession, batch: int = 5000) -> list[Problem]:
    """Recompute the chain and every balance from the postings; problems come in entry order, so the
    first one names the first bad entry."""
    problems: list[Problem] = []
    assets = {a.id: a for a in (await db.scalars(select(Account))).all()}
    sums: dict[int, int] = defaultdict(int)
    prev, last_id = GENESIS, 0
    while True:
        entries = (await db.scalars(select(JournalEntry).where(JournalEntry.id > last_id)
                                    .order_by(JournalEntry.id).limit(batch))).all()
        if not entries:
            break
        postings: dict[int, list[Posting]] = defaultdict(list)
        for p in (await db.scalars(select(Posting).where(Posting.entry_id.between(entries[0].id, entries[-1].id))
                                   .order_by(Posting.id))).all():
            postings[p.entry_id].append(p)
        for e in entries:
            per_asset: dict[str, int] = defaultdict(int)
            for p in postings[e.id]:
                per_asset[p.asset] += p.amount
                sums[p.account_id] += p.amount
                if p.account_id in assets and assets[p.account_id].asset != p.asset:
                    problems.append(Problem(f"entry {e.id}", f"posting {p.id} in {p.asset} to a "
                                                             f"{assets[p.account_id].asset} account"))
            if any(per_asset.values()):
                problems.append(Problem(f"entry {e.id}", f"postings do not balance: {dict(per_asset)}"))
            content = canonical(e.idempotency_key, e.kind, e.memo,
                                [(p.account_id, p.asset, p.amount) for p in postings[e.id]])
            if e.prev_hash != prev or e.hash != chain_hash(prev, content):
                problems.append(Problem(f"entry {e.id}", "hash chain broken: content or order was changed"))
            prev, last_id = e.hash, e.id
    head = await db.scalar(select(LedgerHead).where(LedgerHead.id == 1))
    if head is not None and (head.last_entry_id, head.last_hash) != (last_id, prev):
        problems.append(Problem("ledger head", f"says entry {head.last_entry_id}, chain ends at {last_id}"))
    for acc in sorted(assets.values(), key=lambda a: a.id):
        if acc.balance != sums[acc.id]:
            problems.append(Problem(f"account {acc.code}",
                                    f"balance {acc.balance} but postings sum to {sums[acc.id]}"))
        if acc.balance < 0 and not acc.allow_negative:
            problems.append(Problem(f"account {acc.code}", f"negative balance {acc.balance}"))
    return problems
