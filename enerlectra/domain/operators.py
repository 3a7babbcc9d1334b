"""Operators of the console: accounts, roles, passwords (scrypt, off the event loop), lockout after failures.

A login reads the account, runs the KDF with no transaction open, then records the outcome in one short
UPDATE (the failure count and the lock in the same statement, so concurrent wrong passwords all count).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra.db.models import Cluster, Operator
from enerlectra.domain import audit
from enerlectra.domain.pin_code import hash_pin_async, verify_pin_async

ROLES = ("admin", "support", "viewer", "chair")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,100}\.[^@\s]{1,20}$")
MIN_PASSWORD = 12
# Checked against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DECOY: dict[int, str] = {}


class OperatorError(ValueError):
    """A request the command line or console refuses, with a one-line reason."""


@dataclass(frozen=True)
class Who:
    """The operator behind a console request (read fresh on each request: a role change applies at once)."""
    id: int
    email: str
    role: str
    cluster_id: int | None

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.email, self.id)


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise OperatorError(f"not an email address: {email!r}")
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
        return Who(row.id, email, role, cluster_id)


async def who(db_read: async_sessionmaker, operator_id: int) -> Who | None:
    """The operator, None when gone or disabled."""
    async with db_read() as session:
        row = (await session.execute(
            select(Operator.id, Operator.email, Operator.role, Operator.cluster_id)
            .where(Operator.id == operator_id, Operator.disabled.is_(False)))).first()
    return Who(*row) if row else None


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
        await verify_pin_async(password, await _decoy(cost))
        return Login(None)
    locked = _aware(row.locked_until)
    if locked is not None and locked > now:
        return Login(None, locked)
    ok = await verify_pin_async(password, row.password_hash)    # no transaction open while the KDF runs
    async with db() as session, session.begin():
        if ok:
            await session.execute(update(Operator).where(Operator.id == row.id)
                                  .values(failed_logins=0, locked_until=None, last_login_at=now))
            return Login(Who(row.id, row.email, row.role, row.cluster_id))
        lock_at = now + timedelta(minutes=lock_minutes)
        locked_until = (await session.execute(
            update(Operator).where(Operator.id == row.id)
            .values(failed_logins=Operator.failed_logins + 1,
                    locked_until=case((Operator.failed_logins + 1 >= max_failures, lock_at),
                                      else_=Operator.locked_until))
            .returning(Operator.locked_until))).scalar_one()
        if _aware(locked_until) is not None and _aware(locked_until) > now:
            audit.record(session, audit.Actor(row.email, row.id), "operator.locked", f"operator:{row.id}",
                         after={"locked_until": lock_at.isoformat()})
            return Login(None, _aware(locked_until))
        return Login(None)


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


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


async def _decoy(cost: int) -> str:
    if cost not in _DECOY:
        _DECOY[cost] = await hash_pin_async(secrets.token_hex(8), cost)
    return _DECOY[cost]
