"""A bank declared lost (reported, or swept overdue: ending.declare_lost) that comes back into any station.

Within the tariff's `found_refund_days` of the loss, the rental is billed again as a late return at the time
the bank came back (billing.bill with Returned: capped at the device price like any bill), and what the lost
bill took beyond that comes back: first it cancels what is still owed (rental.owed, never collected), then the
rest goes from revenue to the wallet under the key rental:{id}:found, once. The rental becomes "found", the
renter gets a receipt SMS and the station log a note. Later than that: nothing is refunded (the rental stays
"lost") and the station log gets an alert. Either way the bank is back in service (places.arrive made it
available before the rental layer heard of it).

Runs inside the transaction that saw the bank arrive, the bank's row locked there first and then the rental's
(the order ending.locked_for_end keeps), so a return racing the lost sweep is one or the other, never both: a
return that wins bills the rental as returned and the sweep finds it closed; a sweep that wins is followed by
this refund, which leaves the wallet as the plain return would have.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import faults
from enerlectra.db.models import Bank, Rental, Station, User
from enerlectra.domain import ledger, outbox
from enerlectra.domain.ledger import Leg
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.rentals import billing, holds, return_time, texts
from enerlectra.domain.rentals.views import billed, number, tariff_of
from enerlectra.domain.stations import journal
from enerlectra.i18n import in_language_of

log = logging.getLogger("enerlectra.rentals")


@dataclass(frozen=True)
class Refund:
    """What the lost bill took that the late-return bill does not: `cancelled` from the debt, `back` paid out."""
    bill: billing.Bill
    cancelled: int
    back: int
    owed: int                 # what the renter still owes after it


def refund(lost_bill: dict, owed: int, returned: billing.Bill) -> Refund:
    """Pure: the lost bill as settled (rental.bill), what it left owed, and the bill of a late return."""
    taken = lost_bill["from_deposit"] + lost_bill["owed"]          # what the lost bill charged beyond prepaid
    over = max(0, taken - returned.due_now)
    cancelled = min(owed, over)
    return Refund(returned, cancelled, over - cancelled, owed - cancelled)


async def came_back(s: AsyncSession, bank: Bank, station: Station, said_at: datetime,
                    now: datetime) -> Rental | None:
    """`bank` (its row locked by the caller) came into `station` with no active rental behind it, at `said_at`
    by the station's clock (bounded as any return: return_time.billed_at): if its newest rental is lost, refund
    it or alert (see the module's note). None when there was nothing to do."""
    newest = select(Rental).where(Rental.bank_id == bank.id).order_by(Rental.id.desc()).limit(1)
    rental = (await s.execute(newest.with_for_update())).scalar_one_or_none()
    if rental is None or rental.state != "lost":
        return None
    tariff = tariff_of(rental)
    at = return_time.billed_at(s, rental, bank, station, said_at, now)
    if at - aware_utc(rental.ended_at) > timedelta(days=tariff.found_refund_days):
        journal.note(s, "alert", f"bank {bank.serial} of lost rental {rental.ref} back after "
                     f"{tariff.found_refund_days} days: no refund", now, station_id=station.id, bank_id=bank.id,
                     slot_n=bank.slot_n)
        return None
    owed = refund(rental.bill, rental.owed, billing.bill(tariff, billed(rental), billing.Returned(at, station.code)))
    if owed.back:
        await _pay_back(s, rental, owed.back)
    faults.point("rentals.found.after_post")
    rental.state, rental.bill, rental.owed = "found", asdict(owed.bill), owed.owed
    rental.return_station_id, rental.ended_at = station.id, at
    journal.note(s, "note", f"bank {bank.serial} of lost rental {rental.ref} found: {owed.back} back, "
                 f"{owed.cancelled} of the debt cancelled", now, station_id=station.id, bank_id=bank.id,
                 slot_n=bank.slot_n)
    user = await s.get(User, rental.user_id)
    body = in_language_of(user, texts.found_text, owed.bill, station.name, at, number(rental.ref), owed.back,
                          owed.owed)
    await outbox.add(s, user.msisdn, body, "rental", essential=True, dedupe_key=f"rental:{rental.id}:found")
    log.info("rental %s: lost bank found, %d %s back", rental.ref, owed.back, rental.currency)
    return rental


async def _pay_back(s: AsyncSession, rental: Rental, amount: int) -> None:
    user, revenue = await ledger.accounts(s, [ledger.user_money_spec(rental.user_id, rental.currency),
                                              ledger.system_spec(holds.REVENUE, rental.currency)])
    await ledger.post(s, f"rental:{rental.id}:found", "rental_found", [Leg(revenue.id, -amount), Leg(user.id, amount)],
                      memo=f"{rental.ref}: lost bank found, billed as returned")
