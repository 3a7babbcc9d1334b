"""Periods of whole UTC days, and the SQL that puts a timestamp on its UTC day (SQLite and PostgreSQL)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import clock


@dataclass(frozen=True)
class Period:
    """The days first..last, both included."""

    first: date
    last: date

    @classmethod
    def ending(cls, days: int, last: date | None = None) -> "Period":
        """`days` days ending `last` (today, UTC)."""
        if days < 1:
            raise ValueError("a period has at least one day")
        last = last or clock.now().astimezone(timezone.utc).date()
        return cls(last - timedelta(days=days - 1), last)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def before(self) -> "Period":
        """The period of as many days just before this one."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    @property
    def start(self) -> datetime:
        """The first instant in it (a timestamp column's lower bound, included)."""
        return datetime.combine(self.first, time(), timezone.utc)

    @property
    def end(self) -> datetime:
        """The first instant after it (the upper bound, excluded)."""
        return datetime.combine(self.last + timedelta(days=1), time(), timezone.utc)

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def utc_day(s: AsyncSession, column):
    """The UTC day of a timestamp column, in SQL. PostgreSQL's date() follows the session's time zone, so the
    column goes to UTC first; SQLite keeps timestamps as UTC text."""
    if s.bind.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def as_date(value) -> date:
    """A day as SQL returns it: a date (PostgreSQL) or 'YYYY-MM-DD' text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class Change:
    """A figure now and in the period before, with the change between them."""

    now: int | float
    before: int | float

    @property
    def delta(self) -> int | float:
        return self.now - self.before

    @property
    def percent(self) -> float | None:
        """The change as a percentage of the figure before (None when there was nothing before)."""
        return None if not self.before else round(100 * (self.now - self.before) / self.before, 1)
