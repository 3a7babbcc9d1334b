"""How one USSD session ended: the record the web app pushes onto a Redis list when a session ends, and the
worker folds into SQL (workers/analytics.py -> ussd_sessions and its daily rollups).

Who pushes (ussd_app/engine): the hop whose reply ENDs the session (reason done, or error for the apology after
an internal failure), in the save's own round trip; and the aggregator's end-of-session notice that closes a
live session (hangup or timeout; error when Africa's Talking says Failed). A retransmitted END pushes nothing (it
runs nothing). A session that simply expires in Redis with neither an END nor a notice is not counted: nothing
runs when a key expires, and the figures are about sessions we saw end.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

REASONS = ("done", "error", "hangup", "timeout")
# The most records the list keeps waiting for the fold (about 30 MB): with the workers down for days the oldest
# go (analytics, not money), and Redis never fills with them. Trimmed in the push's own pipeline.
MAX_WAITING = 200_000


def ends_key(prefix: str) -> str:
    """The list the ends wait on (pushed at the tail, folded from the head). Not a session key: it is its own
    command in the save's pipeline, outside the `{sid}`-tagged script. Its own tag `{ends}`: the fold's lock
    (this key + ":lock") shares its Redis Cluster slot, so one script can check the lock and trim the list."""
    return f"{prefix}ussd:{{ends}}"


def journey(screen: str) -> str:
    """A screen's feature: the prefix of its state name (wallet_sendto -> wallet; the resume offer: resume)."""
    return screen.partition("_")[0]


@dataclass(frozen=True)
class SessionEnd:
    session_id: str
    aggregator: str
    msisdn: str
    user_id: int | None
    country: str
    language: str
    screens: tuple[str, ...]      # state names, first-reached order; the last screen is always among them
    last_screen: str
    reason: str                   # one of REASONS
    hops: int                     # the dial and each input (a dial string's parts count as inputs)
    ended_at: float               # epoch seconds

    def dump(self) -> bytes:
        return json.dumps([self.session_id, self.aggregator, self.msisdn, self.user_id, self.country,
                           self.language, " ".join(self.screens), self.last_screen, self.reason, self.hops,
                           round(self.ended_at, 3)], separators=(",", ":")).encode()

    @classmethod
    def load(cls, raw: bytes | str) -> "SessionEnd":
        """ValueError on anything that is not a record this module wrote."""
        try:
            (sid, aggregator, msisdn, user_id, country, language, screens, last, reason, hops,
             ended_at) = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a session end: {exc}") from None
        if reason not in REASONS or not isinstance(hops, int) or not isinstance(ended_at, (int, float)):
            raise ValueError(f"not a session end: reason {reason!r}")
        return cls(str(sid), str(aggregator), str(msisdn), user_id, str(country), str(language),
                   tuple(str(screens).split()), str(last), reason, hops, float(ended_at))

    @classmethod
    def of(cls, *, session_id: str, aggregator: str, msisdn: str, user_id: int | None, country: str,
           language: str, screens: list[str], last_screen: str, reason: str, hops: int,
           ended_at: float) -> "SessionEnd":
        """The last screen joins the screens when it is not there (the resume offer is not a menu state)."""
        if reason not in REASONS:
            raise ValueError(f"unknown end reason {reason!r}")
        reached = tuple(screens) if last_screen in screens else (*screens, last_screen)
        return cls(session_id, aggregator, msisdn, user_id, country, language, reached, last_screen, reason,
                   hops, ended_at)
