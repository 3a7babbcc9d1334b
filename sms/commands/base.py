"""What a keyword command is: a keyword (translatable, for aliases) and a handler that returns the reply."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from ussd_app.db.models import User
from ussd_app.domain.phone import Msisdn

KEYWORD_CONTEXT = "sms keyword"      # the msgctxt of keyword aliases in the catalogs


@dataclass
class CommandCtx:
    db: AsyncSession          # inside the transaction that also stores the inbound SMS and the reply
    number: Msisdn
    user: User | None         # None: not registered yet
    args: list[str]


@dataclass(frozen=True)
class Command:
    name: str                                   # stored on the inbound row: help, lang, stop, start
    keyword: str                                # the English keyword, also the msgid of its aliases
    handler: Callable[[CommandCtx], Awaitable[str]]
    needs_account: bool = False
