"""Failure modes of a fake station, set for the whole station or for its next eject only.

    slow            wait `seconds` before the result (the motor, the cabinet's modem)
    lost_result     eject, store the result, never publish it (a repeat of the req_id still gets it)
    duplicate_result publish the result twice (QoS 1 delivers at least once; the backend dedupes on evt_id)
    not_popped      the latch opens but the bank stays in: ok false, reason not_popped
    lock_fault      the lock motor fails: ok false, reason lock_motor, a fault evt, the slot faulted
    offline         eject, then lose power before reporting: the broker publishes the last will
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MODES = ("slow", "lost_result", "duplicate_result", "not_popped", "lock_fault", "offline")


def _checked(mode: str, seconds: float) -> tuple[str, float]:
    if mode not in MODES:
        raise ValueError(f"failure mode {mode!r}: one of {', '.join(MODES)}")
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    return mode, seconds


@dataclass
class Faults:
    standing: dict[str, float] = field(default_factory=dict)     # mode -> seconds (slow only), every eject
    queued: deque[dict[str, float]] = field(default_factory=deque)  # one dict per coming eject

    def set(self, mode: str, seconds: float = 0.0) -> None:
        """Every eject from now on, until clear()."""
        name, seconds = _checked(mode, seconds)
        self.standing[name] = seconds

    def next(self, *modes: str, seconds: float = 0.0) -> None:
        """The next eject only (call again to queue one for the eject after it)."""
        self.queued.append(dict(_checked(mode, seconds) for mode in modes))

    def clear(self) -> None:
        self.standing.clear()
        self.queued.clear()

    def for_eject(self) -> dict[str, float]:
        """The modes of the eject now being handled (a queued set is used up)."""
        now = dict(self.standing)
        if self.queued:
            now.update(self.queued.popleft())
        return now
