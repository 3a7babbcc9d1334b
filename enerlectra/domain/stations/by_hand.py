"""An operator settles an eject request the station never answered (pending or unknown: a cabinet that went silent
and sends no heartbeat to decide it), from what they saw at the cabinet or heard from the renter.

It goes through ejects.settle with the hooks the link uses, so the rental starts, or is cancelled with its deposit
back, exactly once: the station's row is locked first (as every station message locks it), then the request, whose
state is checked under that lock; of a settle by hand and a late station result, one settles and the other finds
the request settled (NotOpen; the result is a duplicate or an incident). Audited as eject.settle with the
operator's reason, and noted in the station's log.

The inventory still counts: a heartbeat received after the request was issued that shows the bank in its slot
refuses "ejected", one that shows it out of every slot refuses "not ejected" (InventoryDisagrees), unless the
operator forces their word.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra import faults
from enerlectra.db.models import Bank, EjectRequest, Station
from enerlectra.domain import audit
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.stations import ejects, journal
from enerlectra.domain.stations.hooks import StationHooks

WHY_MAX = 200


class NotOpen(LookupError):
    """No such request (`state` None), or it is settled already (`state` what it settled as)."""

    def __init__(self, req_id: str, state: str | None = None, settled_at: datetime | None = None):
        super().__init__(req_id)
        self.req_id, self.state, self.settled_at = req_id, state, settled_at


class TooEarly(ValueError):
    """The request's expires_at has not passed: the cabinet may still eject it (the message says until when)."""


class InventoryDisagrees(ValueError):
    """The last heartbeat says otherwise (the message says what it showed); --force settles anyway."""


def clean_why(why: str) -> str:
    """The operator's reason, one line. ValueError when empty, too long or not printable."""
    why = " ".join(why.split())
    if not why:
        raise ValueError("--why: say what was seen (at the cabinet, from the renter)")
    if len(why) > WHY_MAX or not why.isprintable():
        raise ValueError(f"--why: {WHY_MAX} printable characters at most")
    return why


async def settle(s: AsyncSession, actor: audit.Actor, req_id: str, ejected: bool, why: str, now: datetime,
                 hooks: StationHooks, force: bool = False) -> EjectRequest:
    """Settle the open request `req_id` as ejected (the rental runs) or not (the deposit back). Raises NotOpen,
    TooEarly, InventoryDisagrees (nothing written), ValueError for a bad `why`."""
    why = clean_why(why)
    found = await s.scalar(select(EjectRequest.station_id).where(EjectRequest.req_id == req_id))
    if found is None:
        raise NotOpen(req_id)
    st = (await s.execute(select(Station).where(Station.id == found).with_for_update())).scalar_one()
    req = (await s.execute(select(EjectRequest).where(EjectRequest.req_id == req_id).with_for_update()
                           .execution_options(populate_existing=True))).scalar_one()
    if req.state not in ejects.OPEN:
        raise NotOpen(req_id, req.state, req.settled_at)
    # Until expires_at the cabinet may still pop the bank: "not ejected" would give the deposit back to a renter
    # who then takes it (the late ok result is only an incident). --force does not cover this: wait instead.
    if now <= aware_utc(req.expires_at):
        raise TooEarly(f"the cabinet may still eject it until {aware_utc(req.expires_at):%Y-%m-%d %H:%M:%S} UTC; "
                       "wait for its result, then settle it if none came")
    bank = (await s.execute(select(Bank).where(Bank.id == req.bank_id).with_for_update()
                            .execution_options(populate_existing=True))).scalar_one()
    seen = where_seen(bank, st, req)
    heard = aware_utc(st.last_heartbeat_at)
    # A heartbeat from before the request knows nothing of this eject (the bank was in its slot then)
    if not force and heard is not None and heard > aware_utc(req.issued_at) and (seen is not None) == ejected:
        raise InventoryDisagrees(f"the last heartbeat of station {st.code} ({heard:%Y-%m-%d %H:%M:%S} UTC, after "
                                 f"the eject was issued) shows {bank.serial} {seen or 'out of every slot'}; --force "
                                 f"to settle it {'ejected' if ejected else 'not ejected'} anyway")
    before = {"state": req.state, "bank": bank.serial, "seen": seen or "out of every slot"}
    await ejects.settle(s, st, req, "ok" if ejected else "failed", "operator", now, hooks, inventory_decides=False)
    faults.point("stations.settle_by_hand.after_settle")
    word = "ejected" if ejected else "not ejected"
    journal.note(s, "note", f"eject {req.req_id} settled by hand: {word}{' (forced)' if force else ''}: {why}", now,
                 station_id=st.id, bank_id=bank.id, slot_n=req.slot_n, author=actor.email)
    audit.record(s, actor, "eject.settle", f"eject:{req.req_id}", before=before,
                 after={"state": req.state, "rental": req.rental_ref, "why": why, "force": force})
    return req


def where_seen(bank: Bank, st: Station, req: EjectRequest) -> str | None:
    """Where the inventory last put the bank ('in slot 3', 'in slot 2 of station id 7'); None: out of every slot."""
    if bank.station_id is None:
        return None
    if bank.station_id == st.id:
        return f"in slot {bank.slot_n}" + ("" if bank.slot_n == req.slot_n else f" (the eject was for slot "
                                                                             f"{req.slot_n})")
    return f"in slot {bank.slot_n} of station id {bank.station_id}"
