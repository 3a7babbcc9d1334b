"""The double-entry ledger. Every movement is one journal entry whose postings sum to zero per asset.

Rules kept here, for every caller (wallet, market, payments, clusters, meters):
- integer minor units and integer Wh only;
- an idempotency key per entry: posting again with the same key returns the first entry, posts nothing;
- accounts are locked in id order (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions are
  BEGIN IMMEDIATE, one writer), then one lane of the chain: no deadlocks, no lost updates;
- no balance below zero unless the account allows it (clearing accounts); balances are a column updated
  in the same transaction as the postings;
- each entry is sealed by a MAC (HMAC-SHA256 under the ledger key, which lives outside the database):
  over the previous entry's MAC, a gapless sequence number, its key, kind, memo and time, and every
  posting with the account it moved (id, code, owner, kind, asset, allow_negative). Whoever edits the
  tables cannot seal the result again, so `verify` names the first entry changed, removed or moved;
- the chain is split into lanes (ledger_head rows): a posting takes a lane no other transaction holds
  (FOR UPDATE SKIP LOCKED), so postings that touch different accounts never queue behind one head. Each
  lane is a gapless chain of its own; SQLite (one writer) only ever uses lane 1. An anchor names every
  lane's head, so a lane cut short is caught like the single chain's tail was.

The key is per process, set once at start-up with `use_key` (create_app, the worker's runtime.configure,
the CLI; tests: a fixture per test) rather than passed down: post is called from wallet, market, payments,
clusters and meters, and threading a key through all of them would change every money path for a value
that never varies within a process. Posting without a key raises; it never seals with a made-up one.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from dataclasses import astuple, dataclass
from datetime import datetime, timezone

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.checks import Problem
from enerlectra.db.models import Account, JournalEntry, LedgerHead, Posting
from enerlectra.domain import ledger_pg
from enerlectra.domain.ledger_key import fingerprint

ENERGY = "WH"
GENESIS = "0" * 64
MAC_VERSION = 1
_key: bytes | None = None


class LedgerError(Exception):
    pass


class NoKey(LedgerError):
    """The process never called use_key: nothing is posted or verified without the real key."""


class Unbalanced(LedgerError):
    """Postings that do not sum to zero per asset: a bug in the caller, never posted."""


class InsufficientFunds(LedgerError):
    def __init__(self, account_code: str, balance: int, needed: int):
        super().__init__(f"{account_code}: balance {balance}, needs {needed}")
        self.account_code, self.balance, self.needed = account_code, balance, needed


class KeyReused(LedgerError):
    """A key names an earlier entry that moved something else (another account, amount or kind): a key sent
    again belongs to its first entry only, so nothing moves and the caller is told (`same_entry`)."""

    def __init__(self, key: str, entry_id: int):
        super().__init__(f"{key}: entry {entry_id} is another movement")
        self.key, self.entry_id = key, entry_id


@dataclass(frozen=True)
class Leg:
    account_id: int
    amount: int            # + into the account, - out of it


@dataclass(frozen=True)
class Posted:
    entry_id: int
    created: bool          # False: the idempotency key was used before; nothing was posted now


def use_key(key: bytes | None) -> bytes | None:
    """Set this process's ledger key (ledger_key.load(settings)); None forgets it. Returns the one before,
    for code that seals a throwaway ledger of its own (menus lint) and puts the process's key back."""
    global _key
    previous, _key = _key, key
    return previous


def current_key() -> bytes:
    if _key is None:
        raise NoKey("no ledger key in this process: call ledger.use_key(ledger_key.load(settings)) at start-up")
    return _key


def keyed_digest(purpose: str, text: str) -> str:
    """A digest of `text` only this installation can compute (HMAC-SHA256 under the ledger key, per purpose).
    What we keep of a USSD path (its PINs have 10,000 values each) cannot be reversed by trying inputs."""
    return hmac.new(current_key(), f"{purpose}\n{text}".encode(), hashlib.sha256).hexdigest()[:32]


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


@dataclass(frozen=True)
class AccountSpec:
    """An account as `account` gets or creates it (for `accounts`, which gets several in one query)."""
    code: str
    kind: str
    asset: str
    user_id: int | None = None
    allow_negative: bool = False


def user_money_spec(user_id: int, currency: str) -> AccountSpec:
    return AccountSpec(user_code(user_id, currency), "money", currency, user_id)


def user_energy_spec(user_id: int) -> AccountSpec:
    return AccountSpec(user_code(user_id, ENERGY), "energy", ENERGY, user_id)


def system_spec(name: str, asset: str) -> AccountSpec:
    """System accounts: `fees`, `escrow`, ... never negative; `clearing:*` and `operator` may be."""
    may_go_negative = name.startswith("clearing") or name == "operator"
    return AccountSpec(system_code(name, asset), name.split(":")[0], asset, None, may_go_negative)


async def user_money(db: AsyncSession, user_id: int, currency: str) -> Account:
    return await account(db, *astuple(user_money_spec(user_id, currency)))


async def user_energy(db: AsyncSession, user_id: int) -> Account:
    return await account(db, *astuple(user_energy_spec(user_id)))


async def system(db: AsyncSession, name: str, asset: str) -> Account:
    return await account(db, *astuple(system_spec(name, asset)))


async def accounts(db: AsyncSession, specs: list[AccountSpec]) -> list[Account]:
    """Several accounts in one query (a market fill needs five), in the order asked; the missing are created."""
    found = {a.code: a for a in (await db.scalars(select(Account).where(
        Account.code.in_({spec.code for spec in specs})))).all()}
    for spec in specs:
        if spec.code not in found:
            found[spec.code] = await account(db, *astuple(spec))
    return [found[spec.code] for spec in specs]


# -- sealing ------------------------------------------------------------------------------------

def utc_text(when: datetime) -> str:
    """One text per instant, whatever the driver hands back (SQLite: naive UTC; PostgreSQL: aware)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _account_part(account_id: int, accounts: dict[int, Account]) -> dict:
    acc = accounts.get(account_id)
    if acc is None:            # a posting to an account that is gone: seals as such, so it cannot match
        return {"id": account_id, "missing": True}
    return {"id": acc.id, "code": acc.code, "owner": acc.user_id, "kind": acc.kind, "asset": acc.asset,
            "allow_negative": bool(acc.allow_negative)}


def sealed_content(prev_mac: str, seq: int, key: str, kind: str, memo: str, at: datetime,
                   postings: list[tuple[int, str, int]], accounts: dict[int, Account], lane: int = 1) -> bytes:
    """What an entry's MAC covers, as canonical JSON (sorted keys, no spaces, ASCII only): every string is
    quoted and escaped, so no two different entries encode alike. `postings`: (account id, asset, amount).
    The lane is named when it is not 1: entries sealed before lanes existed (all on lane 1) keep their MACs."""
    content = {"v": MAC_VERSION, "prev": prev_mac, "seq": seq, "key": key, "kind": kind, "memo": memo,
               "at": utc_text(at),
               "postings": [{"account": _account_part(a, accounts), "asset": asset, "amount": amount}
                            for a, asset, amount in sorted(postings)]}
    if lane != 1:
        content["lane"] = lane
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(key: bytes, content: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


# -- posting -------------------------------------------------------------------------------------

async def _seen(db: AsyncSession, key: str) -> int | None:
    return await db.scalar(select(JournalEntry.id).where(JournalEntry.idempotency_key == key))


async def _lock(db: AsyncSession, key: str, account_ids: list[int]) -> tuple[int | None, dict[int, Account]] | None:
    """Lock the accounts in id order and ask whether `key` was posted before, in one round trip: the entry
    posted under `key` (or None) and the locked accounts; None when no account matched."""
    seen = select(JournalEntry.id).where(JournalEntry.idempotency_key == key).scalar_subquery()
    rows = (await db.execute(select(Account, seen.label("seen")).where(Account.id.in_(account_ids))
                             .order_by(Account.id).with_for_update(of=Account)
                             .execution_options(populate_existing=True))).all()
    return (rows[0].seen, {row.Account.id: row.Account for row in rows}) if rows else None


def _merge(legs: list[Leg]) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise Unbalanced(f"amounts are integers, got {leg.amount!r}")
        merged[leg.account_id] += leg.amount
    return merged


def _check(key: str, merged: dict[int, int], accounts: dict[int, Account]) -> None:
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


LANE = "enerlectra.ledger_lane"     # session.info: the lane this session posted on last (a preference only)


async def _take_lane(db: AsyncSession, preferred: int):
    query = select(LedgerHead.id, LedgerHead.seq, LedgerHead.last_mac)
    head = (await db.execute(query.order_by((LedgerHead.id == preferred).desc(), LedgerHead.id).limit(1)
                             .with_for_update(skip_locked=True))).first()
    return head or (await db.execute(query.where(LedgerHead.id == preferred).with_for_update())).one()


async def post(db: AsyncSession, key: str, kind: str, legs: list[Leg], memo: str = "") -> Posted:
    """Post one entry inside the caller's transaction (the caller commits, with its outbox rows).

    Raises Unbalanced or InsufficientFunds (or NoKey) without writing anything.
    """
    mac_key = current_key()
    pg = await ledger_pg.driver(db)         # PostgreSQL: the statements go straight to asyncpg
    try:
        merged = _merge(legs)
    except Unbalanced:
        seen = await _seen(db, key)       # a retry of a posted key returns it, whatever legs it carries
        if seen is not None:
            return Posted(seen, created=False)
        raise
    if pg is not None and pg.is_in_transaction():
        found = await ledger_pg.lock(pg, key, sorted(merged))
    else:       # SQLite, or the transaction's first statement: SQLAlchemy sends its BEGIN with it
        found = await _lock(db, key, sorted(merged))
    seen, accounts = found if found is not None else (await _seen(db, key), {})
    if seen is not None:
        return Posted(seen, created=False)
    try:
        _check(key, merged, accounts)
    except InsufficientFunds:
        # PostgreSQL: the lock statement waited for the transaction that posted this key; it reads the accounts
        # as that one left them (emptied) but its `seen` from before that commit. A repeat, not a refusal.
        seen = await _seen(db, key)
        if seen is not None:
            return Posted(seen, created=False)
        raise
    # Then a lane's head, held briefly: the writes, then the caller's commit. The lane this transaction
    # already holds if it posted before (one lane per transaction), else the first lane nobody holds: never
    # waits while one is free; when every lane is held (more posting transactions than lanes), waits.
    preferred = db.info.get(LANE, 1)
    head = await (ledger_pg.take_lane(pg, preferred) if pg else _take_lane(db, preferred))
    db.info[LANE] = head.id
    lane, seq, at = head.id, head.seq + 1, datetime.now(timezone.utc)
    moved = {a: n for a, n in sorted(merged.items()) if n}  # legs that cancel out leave an entry without postings
    mac = seal(mac_key, sealed_content(head.last_mac, seq, key, kind, memo, at,
                                       [(a, accounts[a].asset, n) for a, n in moved.items()], accounts, lane))
    moved_assets = {a: (accounts[a].asset, n) for a, n in moved.items()}
    if pg:
        entry_id = await ledger_pg.write(pg, key, kind, memo, lane, seq, at, head.last_mac, mac, moved_assets)
        if entry_id is None:    # the same key, committed by another transaction while this one waited: a repeat
            return Posted(await _seen(db, key), created=False)
    else:
        entry_id = await _write_each(db, {"idempotency_key": key, "kind": kind, "memo": memo, "lane": lane,
                                          "seq": seq, "created_at": at, "prev_mac": head.last_mac, "mac": mac},
                                     moved_assets)
    return Posted(entry_id, created=True)


async def same_entry(db: AsyncSession, key: str, entry_id: int, kind: str, legs: list[Leg]) -> None:
    """For a caller that reports what it moved: post answers a posted key with its entry whatever legs the repeat
    carries. KeyReused unless that entry is of `kind` and moved exactly `legs` (summed per account, as posted)."""
    posted_kind = await db.scalar(select(JournalEntry.kind).where(JournalEntry.id == entry_id))
    moved = dict((await db.execute(select(Posting.account_id, Posting.amount)
                                   .where(Posting.entry_id == entry_id))).all())
    if posted_kind != kind or moved != {a: n for a, n in _merge(legs).items() if n}:
        raise KeyReused(key, entry_id)


async def _write_each(db: AsyncSession, entry: dict, moved: dict[int, tuple[str, int]]) -> int:
    """The entry, its postings, the balances and the lane's head, a statement each (SQLite)."""
    entry_id = await db.scalar(insert(JournalEntry).values(**entry).returning(JournalEntry.id))
    if moved:
        await db.execute(insert(Posting), [{"entry_id": entry_id, "account_id": a, "asset": asset, "amount": n}
                                           for a, (asset, n) in moved.items()])
        await db.execute(update(Account).where(Account.id.in_(list(moved)))
                         .values(balance=Account.balance + case({a: n for a, (_, n) in moved.items()},
                                                                value=Account.id))
                         .execution_options(synchronize_session=False))
    await db.execute(update(LedgerHead).where(LedgerHead.id == entry["lane"])
                     .values(seq=entry["seq"], last_entry_id=entry_id, last_mac=entry["mac"]))
    return entry_id


# -- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryLine:
    entry_id: int
    kind: str
    memo: str
    amount: int
    asset: str
    when: object           # datetime


# Built once (the history screen reads it; building it cost as much as running it on SQLite, issue 18).
_HISTORY = (select(JournalEntry.id, JournalEntry.kind, JournalEntry.memo, Posting.amount, Posting.asset,
                   JournalEntry.created_at)
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .join(Account, Account.id == Posting.account_id)
            .where(Account.code.in_(bindparam("codes", expanding=True)))
            .order_by(JournalEntry.id.desc(), Posting.id).limit(bindparam("limit")))


async def history(db: AsyncSession, account_codes: list[str], limit: int = 20) -> list[HistoryLine]:
    """Read only: the newest postings to these accounts, newest first. `db`: a session or a connection."""
    rows = (await db.execute(_HISTORY, {"codes": list(account_codes), "limit": limit})).all()
    return [HistoryLine(*r) for r in rows]


# -- verifying -----------------------------------------------------------------------------------

MAX_ENTRY_PROBLEMS = 50     # a swapped account breaks every entry that touched it: name the first ones


@dataclass(frozen=True)
class Anchor:
    """The chain's heads written down outside the database: every lane must still pass through them.

    Only lane 1 in use (SQLite; a quiet PostgreSQL): `seq`, `entry_id`, `mac` are that lane's head, as before
    lanes existed. Several lanes: `lanes` lists each one's (lane, seq), `seq` is their sum, `entry_id` the
    newest head's entry and `mac` a digest under the key of every lane's (lane, seq, MAC) there."""
    seq: int
    entry_id: int
    mac: str
    key_id: str            # ledger_key.fingerprint of the key that sealed it
    lanes: tuple[tuple[int, int], ...] = ()

    def __str__(self) -> str:
        lanes = f" lanes={','.join(f'{lane}:{seq}' for lane, seq in self.lanes)}" if self.lanes else ""
        return f"ledger-anchor seq={self.seq} entry={self.entry_id} mac={self.mac} key={self.key_id}{lanes}"

    @classmethod
    def parse(cls, line: str) -> "Anchor":
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        try:
            lanes = tuple((int(lane), int(seq)) for lane, seq in
                          (pair.split(":", 1) for pair in fields["lanes"].split(","))) if "lanes" in fields else ()
            return cls(int(fields["seq"]), int(fields["entry"]), fields["mac"], fields.get("key", ""), lanes)
        except (KeyError, ValueError):
            raise ValueError(f"not a ledger anchor: {line!r}") from None


def lanes_digest(key: bytes, heads: list[tuple[int, int, str]]) -> str:
    """What a several-lane anchor's `mac` is: (lane, seq, MAC) of each lane's anchored entry, sealed."""
    return seal(key, json.dumps({"anchor": sorted(heads)}, separators=(",", ":")).encode())


def _head_name(lane: int) -> str:
    return "ledger head" if lane == 1 else f"ledger head {lane}"


class _Walk:
    """Each lane read in seq order: what each entry must follow, and the postings summed per account."""

    def __init__(self, key: bytes, accounts: dict[int, Account], anchored_seqs: dict[int, int]):
        self.key, self.accounts, self.anchored_seqs = key, accounts, anchored_seqs
        self.problems: list[Problem] = []
        self.unlisted = 0
        self.sums: dict[int, int] = defaultdict(int)
        self.ends: dict[int, tuple[int, int, str]] = {}      # lane -> (seq, entry id, MAC) where it ends
        self.anchored: dict[int, JournalEntry] = {}          # lane -> its entry at the anchored seq

    def start(self, lane: int) -> None:
        self.lane, self.prev_mac, self.prev_seq, self.last_id = lane, GENESIS, 0, 0

    def finish(self) -> None:
        self.ends[self.lane] = (self.prev_seq, self.last_id, self.prev_mac)

    def problem(self, where: str, what: str) -> None:
        if len(self.problems) < MAX_ENTRY_PROBLEMS:
            self.problems.append(Problem(where, what))
        else:
            self.unlisted += 1

    def step(self, e: JournalEntry, postings: list[Posting]) -> None:
        where = f"entry {e.id}"
        if e.seq != self.prev_seq + 1:
            missing = e.seq - self.prev_seq - 1
            self.problem(where, f"seq {e.seq} follows seq {self.prev_seq}: " +
                         (f"{missing} entr{'y' if missing == 1 else 'ies'} before it removed" if missing > 0
                          else "out of order"))
        elif e.prev_mac != self.prev_mac:
            self.problem(where, "does not follow the entry before it: entries were removed, replaced or "
                                "reordered")
        self._postings(where, postings)
        if not hmac.compare_digest(e.mac, entry_mac(self.key, e, postings, self.accounts)):
            self.problem(where, "MAC does not match: its amounts, accounts, owners, key, memo or time were "
                                "changed, or it was sealed with another key")
        if self.anchored_seqs.get(e.lane) == e.seq:
            self.anchored[e.lane] = e
        self.prev_mac, self.prev_seq, self.last_id = e.mac, e.seq, e.id

    def _postings(self, where: str, postings: list[Posting]) -> None:
        per_asset: dict[str, int] = defaultdict(int)
        for p in postings:
            per_asset[p.asset] += p.amount
            self.sums[p.account_id] += p.amount
            acc = self.accounts.get(p.account_id)
            if acc is not None and acc.asset != p.asset:
                self.problem(where, f"posting {p.id} in {p.asset} to a {acc.asset} account")
        if any(per_asset.values()):
            self.problem(where, f"postings do not balance: {dict(per_asset)}")


def entry_mac(key: bytes, e: JournalEntry, postings: list[Posting], accounts: dict[int, Account]) -> str:
    """The MAC an entry must carry, from what the database says now."""
    return seal(key, sealed_content(e.prev_mac, e.seq, e.idempotency_key, e.kind, e.memo, e.created_at,
                                    [(p.account_id, p.asset, p.amount) for p in postings], accounts, e.lane))


async def _lane_entries(db: AsyncSession, lane: int, batch: int):
    """Every entry of one lane in seq order with its postings, a batch at a time."""
    last_seq = None
    while True:
        query = select(JournalEntry).where(JournalEntry.lane == lane).order_by(JournalEntry.seq).limit(batch)
        if last_seq is not None:
            query = query.where(JournalEntry.seq > last_seq)
        entries = (await db.scalars(query)).all()
        if not entries:
            return
        postings: dict[int, list[Posting]] = defaultdict(list)
        for p in (await db.scalars(select(Posting).where(Posting.entry_id.in_([e.id for e in entries]))
                                   .order_by(Posting.id))).all():
            postings[p.entry_id].append(p)
        for e in entries:
            yield e, postings[e.id]
        last_seq = entries[-1].seq


async def one_snapshot(s: AsyncSession) -> None:
    """Make this session's reads one moment's picture (PostgreSQL: REPEATABLE READ; a SQLite transaction is one
    already), so verifying a live ledger never sees half of a commit. Call before the session's first read."""
    if s.bind.dialect.name == "postgresql":
        await s.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _anchored_seqs(anchor: Anchor | None) -> dict[int, int]:
    if anchor is None:
        return {}
    return dict(anchor.lanes) if anchor.lanes else {1: anchor.seq}


async def verify(db: AsyncSession, batch: int = 5000, anchor: Anchor | None = None) -> list[Problem]:
    """Recompute every MAC and balance; the entries' problems come first, lane by lane and in seq order, so
    the first line names the first bad entry. With an `anchor`, every lane must still pass through it."""
    key = current_key()
    accounts = {a.id: a for a in (await db.scalars(select(Account))).all()}
    heads = {h.id: h for h in (await db.scalars(select(LedgerHead))).all()}
    lanes = sorted(set(heads) | set((await db.scalars(select(JournalEntry.lane).distinct())).all()) | {1})
    walk = _Walk(key, accounts, _anchored_seqs(anchor))
    for lane in lanes:
        walk.start(lane)
        async for entry, postings in _lane_entries(db, lane, batch):
            walk.step(entry, postings)
        walk.finish()
    problems = walk.problems
    if walk.unlisted:
        problems.append(Problem("ledger", f"{walk.unlisted} more problems in later entries, not listed"))
    for lane in lanes:
        problems += _head_problems(lane, heads.get(lane), walk.ends[lane])
    if anchor is not None:
        problems += _anchor_problems(anchor, walk, key)
    return problems + _balance_problems(walk)


def _head_problems(lane: int, head: LedgerHead | None, end: tuple[int, int, str]) -> list[Problem]:
    seq, last_id, last_mac = end
    if head is None:
        return [Problem(_head_name(lane), "missing" + (f": {seq} entries sit on its lane" if seq else ""))]
    if head.seq > seq:
        return [Problem(_head_name(lane), f"says seq {head.seq} (entry {head.last_entry_id}), the chain ends at "
                                          f"seq {seq}: entries were removed from the end")]
    if (head.seq, head.last_entry_id, head.last_mac) != (seq, last_id, last_mac):
        return [Problem(_head_name(lane), f"says seq {head.seq} (entry {head.last_entry_id}), the chain ends at "
                                          f"seq {seq} (entry {last_id}) with another MAC")]
    return []


def _anchor_problems(anchor: Anchor, walk: _Walk, key: bytes) -> list[Problem]:
    problems = []
    key_id = fingerprint(key)
    if anchor.key_id and anchor.key_id != key_id:
        problems.append(Problem("anchor", f"made with another ledger key ({anchor.key_id}, this one {key_id})"))
    if anchor.seq == 0:                  # anchored before the first entry: every chain passes through it
        return problems
    if not anchor.lanes:
        return problems + _one_lane_anchor_problems(anchor, walk)
    gone = []
    for lane, seq in anchor.lanes:
        end = walk.ends.get(lane, (0, 0, GENESIS))[0]
        if lane not in walk.anchored:
            gone.append(Problem("anchor", f"lane {lane} seq {seq} is gone: the lane ends at seq {end}, entries "
                                          "were removed from the end" if end < seq else
                                          f"lane {lane} seq {seq} is gone from the chain"))
    if gone:
        return problems + gone
    now = lanes_digest(key, [(lane, seq, walk.anchored[lane].mac) for lane, seq in anchor.lanes])
    if not hmac.compare_digest(now, anchor.mac):
        where = ",".join(f"{lane}:{seq}" for lane, seq in anchor.lanes)
        problems.append(Problem("anchor", f"the entries at lanes:seqs {where} carry other MACs than anchored: "
                                          "the chain was rewritten up to there"))
    return problems


def _one_lane_anchor_problems(anchor: Anchor, walk: _Walk) -> list[Problem]:
    e, end = walk.anchored.get(1), walk.ends.get(1, (0, 0, GENESIS))[0]
    if e is None and end < anchor.seq:
        return [Problem("anchor", f"seq {anchor.seq} (entry {anchor.entry_id}) is gone: the chain ends "
                                  f"at seq {end}, entries were removed from the end")]
    if e is None:
        return [Problem("anchor", f"seq {anchor.seq} (entry {anchor.entry_id}) is gone from the chain")]
    if (e.id, e.mac) != (anchor.entry_id, anchor.mac):
        return [Problem("anchor", f"seq {anchor.seq} is entry {e.id} with another MAC than the anchored "
                                  f"entry {anchor.entry_id}: the chain was rewritten up to there")]
    return []


def _balance_problems(walk: _Walk) -> list[Problem]:
    problems = []
    for acc in sorted(walk.accounts.values(), key=lambda a: a.id):
        if acc.balance != walk.sums[acc.id]:
            problems.append(Problem(f"account {acc.code}",
                                    f"balance {acc.balance} but postings sum to {walk.sums[acc.id]}"))
        if acc.balance < 0 and not acc.allow_negative:
            problems.append(Problem(f"account {acc.code}", f"negative balance {acc.balance}"))
    return problems


async def head_anchor(db: AsyncSession) -> Anchor:
    """The heads as an anchor to keep outside the database, after checking that each lane's newest entry is
    its head's and carries a MAC made with this key (the whole chain is `verify`'s job)."""
    key = current_key()
    heads = {h.id: h for h in (await db.scalars(select(LedgerHead))).all()}
    if 1 not in heads:
        raise LedgerError("ledger head: missing")
    used = {lane: head for lane, head in sorted(heads.items()) if head.seq > 0}
    if not used:
        return Anchor(0, 0, GENESIS, fingerprint(key))
    for lane, head in used.items():
        await _check_head(db, key, lane, head)
    if list(used) == [1]:
        return Anchor(used[1].seq, used[1].last_entry_id, used[1].last_mac, fingerprint(key))
    return Anchor(sum(h.seq for h in used.values()), max(h.last_entry_id for h in used.values()),
                  lanes_digest(key, [(lane, h.seq, h.last_mac) for lane, h in used.items()]), fingerprint(key),
                  tuple((lane, h.seq) for lane, h in used.items()))


async def _check_head(db: AsyncSession, key: bytes, lane: int, head: LedgerHead) -> None:
    entry = await db.scalar(select(JournalEntry).where(JournalEntry.lane == lane, JournalEntry.seq == head.seq))
    if entry is None or (entry.id, entry.mac) != (head.last_entry_id, head.last_mac):
        raise LedgerError(f"{_head_name(lane)}: says seq {head.seq} (entry {head.last_entry_id}), no such entry")
    postings = (await db.scalars(select(Posting).where(Posting.entry_id == entry.id))).all()
    accounts = {a.id: a for a in (await db.scalars(
        select(Account).where(Account.id.in_([p.account_id for p in postings])))).all()}
    if not hmac.compare_digest(entry.mac, entry_mac(key, entry, list(postings), accounts)):
        raise LedgerError(f"entry {entry.id}: MAC does not match (changed, or sealed with another key)")
