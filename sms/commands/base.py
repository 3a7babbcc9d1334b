"""What a keyword command is: a keyword (translatable, for aliases) and a handler that returns the reply."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import User
from enerlectra.domain.phone import Msisdn
from enerlectra.domain.pins import PinCheck

if TYPE_CHECKING:
    from enerlectra.settings import Settings

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
    pin_check: PinCheck | None = None     # the money PIN this message carried, checked before the transaction


@dataclass(frozen=True)
class Command:
    name: str                                   # stored on the inbound row: help, lang, stop, start
    keyword: str                                # the English keyword, also the msgid of its aliases
    handler: Callable[[CommandCtx], Awaitable[str | None]]   # None: no reply now (a job answers later)
    needs_account: bool = False
    # Which word of the message is a money PIN, if this message carries one. `receive` checks it before the
    # command's transaction opens, so the slow KDF never holds the write lock and N copies reserve N tries.
    pin: Callable[[AsyncSession, User, list[str]], Awaitable[str | None]] | None = None

    @property
    def takes_pin(self) -> bool:
        """Its arguments may hold the user's PIN: the stored copy of the message is masked."""
        return self.pin is not None
