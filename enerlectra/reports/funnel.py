"""The console's USSD funnel for a period (whole UTC days), optionally for one language and/or country: per
journey and screen, how many sessions reached it and how many ended there by reason, with drop-off rates; and
per language and per country, the sessions and how they ended. From the rollups funnel_daily and
sessions_daily only (workers/analytics.py keeps them from ussd_sessions)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra.db.models import FunnelDaily, SessionsDaily
from enerlectra.reports.periods import Period
from enerlectra.ussd.ends import REASONS

DROPS = ("error", "hangup", "timeout")       # how a session ends without finishing


@dataclass(frozen=True)
class Ended:
    """Counts by end reason; `rate(reason)` over `base` (sessions that reached the screen, or sessions)."""

    base: int
    done: int = 0
    error: int = 0
    hangup: int = 0
    timeout: int = 0

    @property
    def dropped(self) -> int:
        return self.error + self.hangup + self.timeout

    @property
    def drop_rate(self) -> float:
        return _rate(self.dropped, self.base)

    def rate(self, reason: str) -> float:
        return _rate(getattr(self, reason), self.base)


@dataclass(frozen=True)
class ScreenStep:
    screen: str
    reached: int
    ended: Ended                     # sessions that ended on this screen; base = reached


@dataclass(frozen=True)
class Journey:
    journey: str
    reached: int                     # its most-reached screen's count (the journey's entry, as a rule)
    screens: list[ScreenStep]        # most reached first


@dataclass(frozen=True)
class Segment:
    key: str                         # a language or a country
    sessions: int
    hops: int
    ended: Ended                     # base = sessions

    @property
    def completion_rate(self) -> float:
        return self.ended.rate("done")


@dataclass(frozen=True)
class Funnel:
    period: Period
    language: str | None
    country: str | None
    journeys: list[Journey]
    by_language: list[Segment]
    by_country: list[Segment]


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def funnel(db: async_sessionmaker, period: Period, language: str | None = None,
                 country: str | None = None) -> Funnel:
    async with db() as s:
        f = FunnelDaily
        where = [f.day >= period.first, f.day <= period.last]
        where += [f.language == language] if language else []
        where += [f.country == country] if country else []
        rows = (await s.execute(select(f.journey, f.screen, func.sum(f.reached),
                                       *[func.sum(getattr(f, f"ended_{r}")) for r in REASONS])
                                .where(*where).group_by(f.journey, f.screen))).all()
        by_language = await _segments(s, SessionsDaily.language, period, language, country)
        by_country = await _segments(s, SessionsDaily.country, period, language, country)
    journeys: dict[str, list[ScreenStep]] = {}
    for journey, screen, reached, *ended in rows:
        counts = dict(zip(REASONS, (int(n) for n in ended)))
        journeys.setdefault(journey, []).append(ScreenStep(screen, int(reached), Ended(int(reached), **counts)))
    ordered = [Journey(name, max(step.reached for step in steps),
                       sorted(steps, key=lambda step: (-step.reached, step.screen)))
               for name, steps in journeys.items()]
    ordered.sort(key=lambda j: (-j.reached, j.journey))
    return Funnel(period, language, country, ordered, by_language, by_country)


async def _segments(s, column, period: Period, language: str | None, country: str | None) -> list[Segment]:
    d = SessionsDaily
    where = [d.day >= period.first, d.day <= period.last]
    where += [d.language == language] if language else []
    where += [d.country == country] if country else []
    rows = (await s.execute(select(column, func.sum(d.sessions), func.sum(d.hops),
                                   *[func.sum(getattr(d, r)) for r in REASONS])
                            .where(*where).group_by(column).order_by(func.sum(d.sessions).desc(), column))).all()
    return [Segment(key, int(sessions), int(hops), Ended(int(sessions), **dict(zip(REASONS, map(int, ended)))))
            for key, sessions, hops, *ended in rows]
