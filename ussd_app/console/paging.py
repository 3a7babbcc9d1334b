"""Paged lists and the filters of a list page: what the query string may say, read once, refused in one line."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Collection

from aiohttp import web

from enerlectra.domain.pins import aware_utc

PER_PAGE = 50
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Page:
    number: int                 # 1, 2, ...
    size: int = PER_PAGE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(request: web.Request) -> Page:
    raw = request.query.get("page", "1").strip() or "1"
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise web.HTTPBadRequest(text=f"page must be a whole number from 1 to {MAX_PAGE}.\n")
    return Page(int(raw))


def choice(request: web.Request, name: str, allowed: Collection[str]) -> str:
    """A filter picked from a list ('' = any); anything else is a 400 naming what may be typed."""
    value = request.query.get(name, "").strip()
    if value and value not in allowed:
        raise web.HTTPBadRequest(text=f"{name} must be one of {', '.join(sorted(allowed))}.\n")
    return value


def stamp(when: datetime | None) -> str:
    """A time as the console shows it: UTC, to the minute."""
    return f"{aware_utc(when):%Y-%m-%d %H:%M}" if when is not None else ""


def linker(request: web.Request):
    """`request_with(page=2)` in a template: this page's URL with some of its query changed."""
    def request_with(**changes) -> str:
        return str(request.rel_url.with_query({**request.query, **{k: str(v) for k, v in changes.items()}}))
    return request_with
