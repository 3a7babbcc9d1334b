"""A cabinet's slots and power banks, with no I/O: what an eject or a return does to them, and the charge.

A bank's state of charge is worked out from the clock rather than stepped by a timer: it moves by a whole
step per tick (up in a slot, down in a hand) from where it was when it last moved, and stops at 0 and 100.
Tests pass a clock of their own and read the charge after as many ticks as they like.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from simulator.stations.protocol import SERIAL

FULL = 100


@dataclass(frozen=True)
class Battery:
    tick_seconds: float = 60.0
    charge_per_tick: int = 5           # % per tick in a slot
    drain_per_tick: int = 2            # % per tick in someone's hand


@dataclass
class Bank:
    pb: str
    soc: int                           # at `since`
    since: float
    charging: bool

    def soc_at(self, now: float, battery: Battery) -> int:
        ticks = int(max(0.0, now - self.since) // battery.tick_seconds)
        step = battery.charge_per_tick if self.charging else -battery.drain_per_tick
        return max(0, min(FULL, self.soc + step * ticks))

    def move(self, now: float, battery: Battery, charging: bool, soc: int | None = None) -> None:
        """Into a slot (charging) or out of one: the charge so far is kept (or the one given)."""
        self.soc = self.soc_at(now, battery) if soc is None else soc
        self.since, self.charging = now, charging


@dataclass
class Slot:
    n: int
    bank: Bank | None = None
    locked: bool = False               # by an operator's lock_slot
    fault: str | None = None           # e.g. "lock_motor" after a motor failure, until maintenance clears it

    def takes_a_return(self) -> bool:
        return self.bank is None and not self.locked and self.fault is None


class StationFull(Exception):
    """No free slot: the bank stays in the user's hand."""


def check_soc(soc) -> int:
    if not isinstance(soc, int) or isinstance(soc, bool) or not 0 <= soc <= FULL:
        raise ValueError(f"state of charge {soc!r}: a whole number from 0 to {FULL}")
    return soc


def check_serial(pb: str) -> str:
    if not SERIAL.match(str(pb)):
        raise ValueError(f"power bank {pb!r}: 'PB' and 8 digits, e.g. PB00012345")
    return pb


@dataclass
class Cabinet:
    slot_count: int
    battery: Battery = field(default_factory=Battery)
    clock: Callable[[], float] = time.time
    slots: list[Slot] = field(init=False)

    def __post_init__(self):
        if not 1 <= self.slot_count <= 99:
            raise ValueError(f"{self.slot_count} slots: a cabinet has 1 to 99")
        self.slots = [Slot(n) for n in range(1, self.slot_count + 1)]

    def slot(self, n: int) -> Slot | None:
        return self.slots[n - 1] if 1 <= n <= self.slot_count else None

    def load(self, n: int, pb: str, soc: int) -> None:
        """Stock a slot when the cabinet is set up."""
        self.slots[n - 1].bank = Bank(check_serial(pb), check_soc(soc), self.clock(), charging=True)

    def inventory(self) -> list[dict]:
        """The hb's slot list: the truth for slot contents."""
        now, rows = self.clock(), []
        for s in self.slots:
            if s.bank is None:
                row = {"n": s.n, "pb": None, "state": "empty"}
            else:
                soc = s.bank.soc_at(now, self.battery)
                row = {"n": s.n, "pb": s.bank.pb, "soc": soc, "state": "full" if soc >= FULL else "charging"}
            rows.append({**row, "fault": s.fault, "locked": s.locked})     # locked: ours, beyond s.12's example
        return rows

    def refusal(self, n: int, pb: str) -> str | None:
        """Why slot n cannot release pb (a protocol reason), or None when it can."""
        s = self.slot(n)
        if s is None:
            return "unknown"
        if s.locked:
            return "busy"
        if s.fault is not None:
            return s.fault
        if s.bank is None:
            return "slot_empty"
        if s.bank.pb != pb:
            return "pb_mismatch"
        return None

    def release(self, n: int) -> Bank:
        """The bank leaves slot n and starts draining."""
        s = self.slots[n - 1]
        bank, s.bank = s.bank, None
        bank.move(self.clock(), self.battery, charging=False)
        return bank

    def take_back(self, bank: Bank, soc: int | None = None) -> int:
        """A returned bank goes into the first free slot; its slot number. StationFull when none is free."""
        free = next((s for s in self.slots if s.takes_a_return()), None)
        if free is None:
            raise StationFull(f"no free slot for {bank.pb}")
        bank.move(self.clock(), self.battery, charging=True, soc=None if soc is None else check_soc(soc))
        free.bank = bank
        return free.n

    def holds(self, pb: str) -> bool:
        return any(s.bank is not None and s.bank.pb == pb for s in self.slots)
