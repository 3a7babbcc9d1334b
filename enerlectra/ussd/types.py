"""The shapes the engine, the menus and the adapters share."""
from __future__ import annotations

import enum
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, AsyncContextManager, Awaitable, Callable, Union

from enerlectra.domain.ledger import keyed_digest
from enerlectra.domain.phone import COUNTRIES

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from enerlectra.settings import Settings


@dataclass(frozen=True)
class UssdRequest:
    """One hop, as every aggregator adapter hands it over (ussd_app/aggregators/contract.py): the aggregator's
    quirks stay in the adapter.

    `text` is the input field as the aggregator sent it: Africa's Talking's whole `*`-joined path (`path_rule`
    "cumulative": the engine finds the new input against the path it kept), or the latest input alone
    ("appended": the others). On a first hop it holds a dial-string shortcut's parts (`4*1` for *123*4*1#).
    `hop_id` is what the aggregator sends again on a retry of the same hop (AT: the text): the replay cache and
    the money steps' keys (`Ctx.hop_key`) derive from it, never from Redis state.
    """

    session_id: str
    msisdn: str          # E.164, validated by the adapter
    country: str         # ZM / TZ
    text: str            # cumulative (AT) or the latest input (the others); "" on a plain dial
    service_code: str = ""
    network_code: str = ""   # or the operator's name, as the aggregator names it
    hop_id: str | None = None        # None: the text (Africa's Talking's rule)
    is_new: bool | None = None       # None: the aggregator does not say (AT): a session Redis lacks is new
    path_rule: str = "cumulative"    # how the session's path grows: "cumulative" (AT) or "appended"
    aggregator: str = "africastalking"
    own_hop_id: bool = False         # the hop id is our own count (Arkesel): a retry of an answered hop
                                     # cannot be told from the same key pressed again (the engine asks)

    @property
    def hop(self) -> str:
        return self.text if self.hop_id is None else self.hop_id


@dataclass(frozen=True)
class UssdReply:
    text: str
    end: bool

    @property
    def wire(self) -> str:
        return ("END " if self.end else "CON ") + self.text


class Nav(enum.Enum):
    """Which of 0 Back / 00 Home a screen offers."""

    FULL = "full"    # 0 Back, 00 Home
    BACK = "back"    # 0 Back only (onboarding: there is no home yet)
    NONE = "none"    # root screens


@dataclass
class Screen:
    """What a renderer returns: translated lines and numbered options; the engine paginates."""

    body: list[str]
    options: list[tuple[str, str]] = field(default_factory=list)   # (key typed, label)
    end: bool = False
    page_size: int | None = None          # at most this many lines a page (history: short pages)

    def to_json(self) -> dict[str, Any]:
        """Short keys, defaults left out: a session carries its screen in Redis (issue 18: bytes per session)."""
        data: dict[str, Any] = {"b": self.body}
        if self.options:
            data["o"] = [list(o) for o in self.options]
        if self.end:
            data["e"] = 1
        if self.page_size is not None:
            data["z"] = self.page_size
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Screen":
        if "body" in data:                  # the long form, saved before issue 18
            return cls(body=list(data["body"]), options=[tuple(o) for o in data["options"]], end=data["end"],
                       page_size=data.get("page_size"))
        return cls(body=list(data["b"]), options=[tuple(o) for o in data.get("o", ())], end=bool(data.get("e")),
                   page_size=data.get("z"))


@dataclass(frozen=True)
class Redirect:
    """Show another state instead (after I/O decided where the user goes)."""

    state: str
    flash: str | None = None          # one line shown on top of the next screen
    reset_history: bool = False


@dataclass(frozen=True)
class Reject:
    """The input was wrong in a way only I/O could tell (e.g. a PIN): stay on the previous screen."""

    hint: str


Rendered = Union[Screen, Redirect, Reject]


@dataclass
class Services:
    """What renderers may use: the domain's resources, nothing aggregator-specific."""

    db: "async_sessionmaker"      # its units of work enqueue their follow-ups (enerlectra/domain/work.py)
    settings: "Settings"
    db_read: "async_sessionmaker | None" = None      # for screens that only read (None: use db)
    payments: Any = None                              # payments.service.Payments (deposits, withdrawals)
    # Column SELECTs the hot screens make (enerlectra/db/core_reads.py; None: a db_read session)
    reads: "Callable[[], AsyncContextManager[Any]] | None" = None
    # Sends a station command after its transaction committed (rentals' ejects): the station link's, or None
    # when no broker is configured (the eject then goes unknown and the station's inventory decides).
    publish: "Callable[[Any], Awaitable[None]] | None" = None

    def __post_init__(self) -> None:
        if self.db_read is None:
            self.db_read = self.db
        if self.reads is None:
            self.reads = self.db_read


@dataclass
class Session:
    """The plain object the state machine moves; stored in Redis as JSON (never pickled)."""

    id: str
    msisdn: str
    country: str
    state: str
    lang: str
    user_id: int | None = None
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)     # per-journey answers
    path: str = ""                                          # a mark of the inputs consumed (engine/paths.py)
    steps: int = 0                                          # how many inputs the session has consumed
    secret_steps: list[int] = field(default_factory=list)   # which inputs were PINs (masked when stored)
    history: list[str] = field(default_factory=list)        # for 0 Back
    screen: dict[str, Any] | None = None                    # last rendered Screen (for 98/0 paging)
    page: int = 0
    header: list[str] = field(default_factory=list)         # the hint or flash shown on top of its pages
    last_pick: list = field(default_factory=list)           # own hop ids: [input digest, time, asked]
    screens: str = ""               # the menu states reached, first-reached order, as MenuTree.screen_code codes
    resume_kept: bool = False       # a resume pointer of this number may exist (read at the dial, or set since)
    reset_due: bool = False         # the dial's hop only, never stored: a PIN reset waits (users.at_dial)

    @property
    def currency(self) -> str:
        """The caller's wallet currency, from their number's country."""
        return COUNTRIES[self.country][0]

    def to_json(self) -> dict[str, Any]:
        """Short keys, fields at their defaults left out (issue 18: a live session within 600 bytes of Redis)."""
        data = {}
        for f in _STORED:
            value = getattr(self, f.name)
            if f.name in _REQUIRED or value != _DEFAULTS[f.name]:
                data[_SHORT[f.name]] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Session":
        if "msisdn" in data:                                # the long form, saved before issue 18
            if "consumed" in data and "path" not in data:     # saved before the path replaced `consumed`
                data = {**data, "path": data["consumed"]}
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        return cls(**{name: data[short] for name, short in _SHORT.items() if short in data})


_SHORT = {"id": "i", "msisdn": "m", "country": "c", "state": "t", "lang": "l", "user_id": "u", "name": "n",
          "data": "d", "path": "p", "steps": "k", "secret_steps": "x", "history": "y", "screen": "w", "page": "g",
          "header": "h", "last_pick": "q", "resume_kept": "v", "screens": "f"}
_REQUIRED = {"id", "msisdn", "country", "state", "lang"}
_STORED = [f for f in fields(Session) if f.name in _SHORT]
_DEFAULTS = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
             for f in fields(Session) if f.name not in _REQUIRED}


@dataclass
class Ctx:
    """What a renderer sees: the session, the input that led here, and the services.

    `hop` is the hop id of this input (ussd_app/aggregators: for Africa's Talking the whole path through it,
    its `text`): what a retransmission, a late webhook or a hop replayed after Redis lost the session sends
    again. Money steps key their SQL rows by `hop_key`, never by anything kept in Redis.
    """

    session: Session
    text: str | None
    services: Services
    hop: str = ""
    walking: bool = False     # rebuilt from the path alone (a dial string, or Redis lost the session)
    step: int = 0             # the position of the input that led here in the session (0: the first input)
    opening: bool = False     # the first screen of a dial, before any input

    @property
    def hop_key(self) -> str:
        """The SQL key of this hop's step: keyed (the path holds PINs) and bound to the caller's number."""
        return "ussd:" + keyed_digest("hop", f"{self.session.id}\n{self.session.msisdn}\n{self.hop}")

    def secret_input(self) -> None:
        """The input that led here is a PIN: the end-of-session record masks it (by its position)."""
        if self.step not in self.session.secret_steps:
            self.session.secret_steps.append(self.step)


Renderer = Callable[[Ctx], Awaitable[Rendered]]
Rule = Callable[[Session, str], bool]
Action = Callable[[Session, str], None]
