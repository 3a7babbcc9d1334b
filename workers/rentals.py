"""Rental jobs (ticked by the worker): reminders (due soon, overdue, the final notice) and the lost sweep
(RENTAL_LOST_AFTER_DAYS overdue: billed as lost). Each notice once per rental and kind (rental_notices)."""
from __future__ import annotations

import logging

from enerlectra import clock
from enerlectra.domain.rentals import notices
from workers import runtime

log = logging.getLogger(__name__)


def remind_rentals() -> int:
    return runtime.run(lambda db: _run(db, lost=False))


def sweep_lost_rentals() -> int:
    return runtime.run(lambda db: _run(db, lost=True))


async def _run(db, lost: bool) -> int:
    done = await notices.run(db, clock.now(), lost=lost)
    if done:
        log.info("%s %d rental(s)", "declared lost" if lost else "reminded", done)
    return done
