"""The INSERT of the session's database (SQLite or PostgreSQL), for ON CONFLICT clauses both spell alike."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(s: AsyncSession):
    """`insert_for(s)(Table).on_conflict_do_nothing(...)` on either database."""
    return postgresql.insert if s.bind.dialect.name == "postgresql" else sqlite.insert
