"""What a keyword command is: a keyword (translatable, for aliases) and a handler that returns the reply."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from ussd_app.db.models import User
from ussd_app.domain.phone import Msisdn

if TYPE_CHECKING:
    from ussd_app.settings import Settings

KEYWORD_CONTEXT = "sms keyword"      # the msgctxt of keyword aliases in the catalogs


@dataclass
class CommandCtx:
    db: AsyncSession          # inside the transaction that also stores the inbound SMS and the reply
    number: Msisdn
    user: User | None         # None: not registered yet
    args: list[str]
    settings: "Settings"
    provider_id: str = ""                                   # the aggregator's id of this SMS
    questions: list[int] = field(default_factory=list)      # advisor questions to answer after commit
    dispatch: list[tuple[int, int]] = field(default_factory=list)   # more outbox rows (receipts) to send
    payouts: list[int] = field(default_factory=list)        # proposals passed now that pay from a pool


@dataclass(frozen=True)
class Command:
    name: str                                   # stored on the inbound row: help, lang, stop, start
    keyword: str                                # the English keyword, also the msgid of its aliases
    handler: Callable[[CommandCtx], Awaitable[str | None]]   # None: no reply now (a job answers later)
    needs_account: bool = False
    takes_pin: bool = False                     # its arguments may hold the user's PIN: stored masked
