"""Operators of the console: accounts, roles, passwords (scrypt, off the event loop), lockout after failures.

A login reads the account, counts the try (and locks on the last one allowed) in one short UPDATE, runs the
KDF with no transaction open, then clears the count if the password was right. Counting before the KDF means
guesses sent all at once cannot outrun the lock.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra.db.models import Cluster, Operator
from enerlectra.domain import audit
from enerlectra.domain.pin_code import hash_pin_async, verify_password_async

ROLES = ("admin", "support", "viewer", "chair")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,100}\.[^@\s]{1,20}$")
MIN_PASSWORD = 12
# Checked against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DECOY: dict[int, str] = {}


class OperatorError(ValueError):
    """A request the command line or console refuses, with a one-line reason."""


@dataclass(frozen=True)
class Who:
    """The operator behind a console request (read fresh on each request: a role change applies at once).

    `mark` is a digest of the password hash: a console session remembers the one it began with, so a new
    password ends every session started with the old one."""
    id: int
    email: str
    role: str
    cluster_id: int | None
    mark: str = ""

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.email, self.id)


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise OperatorError(f"not an email address: {email!r}")
    if not (email.isascii() and email.isprintable()):
        # A Cyrillic "а" or a zero-width space would make a second account that reads as another one.
        raise OperatorError(f"an operator's email is plain ASCII: {email!r}")
    return email


def generate_password() -> str:
    return secrets.token_urlsafe(15)          # 20 characters, ~120 bits


async def add(db: async_sessionmaker, email: str, role: str, password: str, *, cost: int,
              cluster_code: str | None = None, actor: audit.Actor = audit.CLI) -> Who:
    email = normal_email(email)
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    if (role == "chair") != bool(cluster_code):
        raise OperatorError("a chair needs --cluster CODE, and only a chair has one")
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"the password needs at least {MIN_PASSWORD} characters")
    hashed = await hash_pin_async(password, cost)           # before the transaction: no lock held meanwhile
    async with db() as session, session.begin():
        cluster_id = None
        if cluster_code:
            cluster_id = await session.scalar(select(Cluster.id).where(Cluster.code == cluster_code.upper()))
            if cluster_id is None:
                raise OperatorError(f"no cluster {cluster_code!r}")
        if await session.scalar(select(Operator.id).where(Operator.email == email)) is not None:
            raise OperatorError(f"{email} already exists")
        row = Operator(email=email, role=role, cluster_id=cluster_id, password_hash=hashed)
        session.add(row)
        await session.flush()
        audit.record(session, actor, "operator.add", f"operator:{row.id}",
                     after={"email": email, "role": role, "cluster": cluster_code})
        return Who(row.id, email, role, cluster_id, session_mark(hashed))


def session_mark(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


async def who(db_read: async_sessionmaker, operator_id: int) -> Who | None:
    """The operator, None when gone or disabled."""
    async with db_read() as session:
        row = (await session.execute(
            select(Operator.id, Operator.email, Operator.role, Operator.cluster_id, Operator.password_hash)
            .where(Operator.id == operator_id, Operator.disabled.is_(False)))).first()
    return Who(*row[:4], session_mark(row[4])) if row else None


@dataclass(frozen=True)
class Login:
    who: Who | None           # None: refused
    locked_until: datetime | None = None


async def login(db: async_sessionmaker, email: str, password: str, *, cost: int, max_failures: int,
                lock_minutes: int, now: datetime | None = None) -> Login:
    now = now or datetime.now(timezone.utc)
    try:
        email = normal_email(email)
    except OperatorError:
        email = ""
    async with db() as session:
        row = (await session.execute(select(Operator).where(Operator.email == email))).scalar_one_or_none() \
            if email else None
    if row is None or row.disabled:
        await verify_password_async(password, await _decoy(cost))
        return Login(None)
    claimed = await _claim_try(db, row.id, now, max_failures, now + timedelta(minutes=lock_minutes))
    if claimed is None:                       # locked: the same KDF as any other refusal, so no time tells
        await verify_password_async(password, await _decoy(cost))
        return Login(None, _aware(row.locked_until) or now)
    failures, locked_until = claimed
    ok = await verify_password_async(password, row.password_hash)    # no transaction open while the KDF runs
    async with db() as session, session.begin():
        if ok:
            await session.execute(update(Operator).where(Operator.id == row.id)
                                  .values(failed_logins=0, locked_until=None, last_login_at=now))
            return Login(Who(row.id, row.email, row.role, row.cluster_id, session_mark(row.password_hash)))
        if locked_until is not None:          # this wrong password was the last try: the lock stays
            audit.record(session, audit.Actor(row.email, row.id), "operator.locked", f"operator:{row.id}",
                         after={"locked_until": locked_until.isoformat(), "failed_logins": failures})
            return Login(None, locked_until)
        return Login(None)


async def _claim_try(db: async_sessionmaker, operator_id: int, now: datetime, max_failures: int,
                     lock_at: datetime) -> tuple[int, datetime | None] | None:
    """Count a try before its KDF runs, in one UPDATE, and lock when it is the last one allowed (a right
    password then lifts the lock). So guesses sent all at once get max_failures tries, not one each; and a
    try already counted needs no second write when wrong. None: the account is locked."""
    # A lock that has run out starts the count again: this try is the first of a new series, not one more
    # after the last lock (which would lock again at the first wrong password).
    tries = case((Operator.locked_until.is_not(None), 1), else_=Operator.failed_logins + 1)
    async with db() as session, session.begin():
        claimed = (await session.execute(
            update(Operator)
            .where(Operator.id == operator_id,
                   or_(Operator.locked_until.is_(None), Operator.locked_until <= now))
            .values(failed_logins=tries, locked_until=case((tries >= max_failures, lock_at), else_=None))
            .returning(Operator.failed_logins, Operator.locked_until))).first()
    return None if claimed is None else (claimed[0], _aware(claimed[1]))


async def unlock(db: async_sessionmaker, email: str, actor: audit.Actor = audit.CLI) -> None:
    email = normal_email(email)
    async with db() as session, session.begin():
        row = (await session.execute(select(Operator).where(Operator.email == email))).scalar_one_or_none()
        if row is None:
            raise OperatorError(f"no operator {email}")
        before = {"failed_logins": row.failed_logins, "locked_until": row.locked_until}
        row.failed_logins, row.locked_until = 0, None
        audit.record(session, actor, "operator.unlock", f"operator:{row.id}", before=before,
                     after={"failed_logins": 0, "locked_until": None})


async def change(db: async_sessionmaker, email: str, *, role: str | None = None, cluster_code: str | None = None,
                 disabled: bool | None = None, actor: audit.Actor = audit.CLI) -> Who:
    """Another role (a chair's cluster with it), or the account disabled / enabled. It applies on the
    operator's next request: the console reads the account on every one."""
    email = normal_email(email)
    if role is not None and role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    async with db() as session, session.begin():
        row = await _by_email(session, email)
        before = {"role": row.role, "cluster_id": row.cluster_id, "disabled": row.disabled}
        new_role = role or row.role
        if cluster_code is not None:
            row.cluster_id = await session.scalar(select(Cluster.id).where(Cluster.code == cluster_code.upper()))
            if row.cluster_id is None:
                raise OperatorError(f"no cluster {cluster_code!r}")
        elif new_role != "chair":
            row.cluster_id = None
        if (new_role == "chair") != (row.cluster_id is not None):
            raise OperatorError("a chair needs --cluster CODE, and only a chair has one")
        row.role = new_role
        if disabled is not None:
            row.disabled = disabled
        after = {"role": row.role, "cluster_id": row.cluster_id, "disabled": row.disabled}
        if after != before:
            audit.record(session, actor, "operator.change", f"operator:{row.id}", before=before, after=after)
        return Who(row.id, row.email, row.role, row.cluster_id, session_mark(row.password_hash))


async def set_password(db: async_sessionmaker, email: str, password: str, *, cost: int,
                       actor: audit.Actor = audit.CLI) -> None:
    """A new password (a forgotten one, or one that leaked): every console session of the old one ends, and
    a lock from wrong passwords is lifted. The audit row says it happened, never what it is."""
    email = normal_email(email)
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"the password needs at least {MIN_PASSWORD} characters")
    async with db() as session:
        await _by_email(session, email)             # an unknown email is refused before the KDF runs
    hashed = await hash_pin_async(password, cost)   # no transaction open meanwhile
    async with db() as session, session.begin():
        row = await _by_email(session, email)
        row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None
        audit.record(session, actor, "operator.password", f"operator:{row.id}", after={"sessions": "ended"})


@dataclass(frozen=True)
class Listed:
    email: str
    role: str
    cluster: str | None
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None


async def listing(db_read: async_sessionmaker) -> list[Listed]:
    async with db_read() as session:
        rows = (await session.execute(
            select(Operator.email, Operator.role, Cluster.code, Operator.disabled, Operator.locked_until,
                   Operator.last_login_at).outerjoin(Cluster, Cluster.id == Operator.cluster_id)
            .order_by(Operator.email))).all()
    return [Listed(e, r, c, bool(d), _aware(lock), _aware(last)) for e, r, c, d, lock, last in rows]


async def _by_email(session, email: str) -> Operator:
    row = (await session.execute(select(Operator).where(Operator.email == email))).scalar_one_or_none()
    if row is None:
        raise OperatorError(f"no operator {email}")
    return row


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


async def _decoy(cost: int) -> str:
    if cost not in _DECOY:
        _DECOY[cost] = await hash_pin_async(secrets.token_hex(8), cost)
    return _DECOY[cost]
