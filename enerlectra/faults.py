"""Test-only switches: planted money defects and "the worker dies here" points, for the fault simulation.

Off unless a test (or `ENERLECTRA_FAULTS=name,name`) turns them on; when off, each site costs one frozenset
lookup. Every planted defect re-introduces a bug that issue 14 fixed, so the simulation (tests/simulation/)
can show it finds it. One line at each site:

- half_placed_order (enerlectra/domain/market/book.py `place`): no savepoint, a refused order stays open;
- pin_no_reservation (enerlectra/domain/pins.py `check`): the KDF runs before the try is counted;
- payment_key_from_redis (menus/money/screens.py `_payment_key`): a fresh payment key each time a hop runs;
- limits_outside_lock (payments/service.py `_start`, `_open`): limits read before the user's row lock;
- end_not_remembered (ussd_app/engine/store.py `save`): no END tombstone, a later hop runs again;
- foreign_number_accepted (ussd_app/engine/core.py `_answered`): another phoneNumber drives the session.

Kill points (`point(name)` raises `Killed` when armed): `payments.after_open` (payment recorded, never sent),
`payments.settle.after_post` (inside the settling transaction), `sms.send.after_claim` (rows claimed, not sent),
`sms.send.after_gateway` (the gateway accepted the request; the outbox rows do not say so yet),
`wallet.credit.before_commit` (an operator's credit, its audit row and receipt written, not committed),
`rentals.settle.after_post` (a rental's bill posted in the ledger, the rental row not yet closed),
`stations.settle_by_hand.after_settle` (an operator's eject settle applied, deposit moved, not audited nor committed),
`rentals.found.after_post` (a found bank's refund posted, the rental row not yet marked found).
"""
from __future__ import annotations

import os
import threading

DEFECTS = frozenset({"half_placed_order", "pin_no_reservation", "payment_key_from_redis", "limits_outside_lock",
                     "end_not_remembered", "foreign_number_accepted"})
POINTS = frozenset({"payments.after_open", "payments.settle.after_post", "sms.send.after_claim",
                    "sms.send.after_gateway", "wallet.credit.before_commit", "rentals.settle.after_post",
                    "stations.settle_by_hand.after_settle", "rentals.found.after_post",
                    "rentals.rent.after_debts"})

enabled: frozenset[str] = frozenset(filter(None, os.environ.get("ENERLECTRA_FAULTS", "").split(",")))
_armed: dict[str, int] = {}          # kill point -> how many more times it kills
_lock = threading.Lock()             # jobs run in worker threads beside the app's loop


class Killed(Exception):
    """The process died here (a fault point): nothing after this statement ran."""


def on(name: str) -> bool:
    return name in enabled


def enable(*names: str) -> None:
    """Turn planted defects on (tests only); `enable()` turns them all off."""
    global enabled
    unknown = set(names) - DEFECTS
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    enabled = frozenset(names)


def arm(point: str, times: int = 1) -> None:
    if point not in POINTS:
        raise ValueError(f"unknown fault point: {point}")
    with _lock:
        _armed[point] = _armed.get(point, 0) + times


def disarm() -> None:
    with _lock:
        _armed.clear()


def point(name: str) -> None:
    """Die here if the point is armed (a worker killed between two statements)."""
    if not _armed:
        return
    with _lock:
        left = _armed.get(name, 0)
        if left <= 0:
            return
        _armed[name] = left - 1
    raise Killed(name)
