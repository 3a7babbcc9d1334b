"""Eject requests: made under the station's row lock, stored before anything is published, settled once.

- `request_eject` refuses an unknown or offline station and one with no charged bank (soc >= the rules'
  minimum, in a slot with no fault); else it reserves the bank and stores the request. PostgreSQL: the
  station row is locked FOR UPDATE first, so concurrent requests at one station pick in turn and each sees
  the banks reserved before it; SQLite: BEGIN IMMEDIATE (one writer) gives the same order.
- `apply_result` settles a pending or unknown request from the station's eject_result. A result for a
  settled request that agrees is a duplicate; one that contradicts opens an incident and changes nothing.
  A failed result for a bank a heartbeat already showed gone from its slot settles ok (the inventory is the
  truth: the renter may hold it) with an incident, unless the station says the slot was empty or held another
  bank when it tried (the bank left before this eject: missing, an alert, the renter owes nothing).
- `sweep_unknown` marks requests with no result after `unknown_after` as unknown and names the stations to
  ask for their inventory; `decide_unknown` settles them from the next heartbeat (never from silence):
  the bank gone from its slot = ejected, still there = failed. A heartbeat stamped after expires_at is
  decisive because the station refuses an eject past expires_at (issued + ttl < unknown_after): nothing can
  pop out later.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enerlectra.db.models import Bank, EjectRequest, Slot, Station
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.stations import journal, places, wire
from enerlectra.domain.stations.hooks import StationHooks

SLOT_FAULTS = frozenset({"lock_motor", "not_popped"})      # a failed eject for these takes the slot out of use
# Failures that say this eject did not take the bank out: the station found the slot empty or holding another
# bank (it had left before), or never moved the latch (past expires_at, busy with another command). A bank gone
# from its slot then left some other way (an alert for an operator), never charged to this renter.
NOT_BY_THIS_EJECT = frozenset({"slot_empty", "pb_mismatch", "expired", "busy"})
GONE = "gone:"          # reason prefix of a failed result settled ok because the inventory showed the bank gone
OPEN = ("pending", "unknown")


@dataclass(frozen=True)
class Rules:
    min_soc: int                    # percent: below this a bank is not offered
    ttl: timedelta                  # expires_at = issued_at + ttl
    unknown_after: timedelta        # no result by then: unknown, ask the inventory
    offline_after: timedelta        # no heartbeat for this long: offline

    def __post_init__(self) -> None:
        # The inventory decides an unknown eject only because nothing can pop out after expires_at.
        if self.unknown_after <= self.ttl:
            raise ValueError("STATION_EJECT_UNKNOWN_SECONDS must be longer than STATION_EJECT_TTL_SECONDS")

    @classmethod
    def from_settings(cls, settings) -> "Rules":
        return cls(settings.rental_min_soc, timedelta(seconds=settings.eject_ttl_seconds),
                   timedelta(seconds=settings.eject_unknown_seconds),
                   timedelta(seconds=settings.station_offline_seconds))


class Refused(Exception):
    """No eject: `code` says why (the caller's screen says it in the user's language)."""
    code = "refused"


class StationOffline(Refused):
    code = "offline"


class NoChargedBank(Refused):
    code = "no_bank"


@dataclass(frozen=True)
class Command:
    """What to publish (QoS 1) once the transaction that stored the request has committed."""
    req_id: str
    topic: str
    payload: bytes


async def request_eject(s: AsyncSession, code: str, rules: Rules, now: datetime,
                        rental_ref: str | None = None) -> tuple[EjectRequest, Command]:
    """Reserve a charged bank at station `code` and store its eject request. Raises places.UnknownStation,
    StationOffline, NoChargedBank. Publish the command only after this transaction commits."""
    st = await places.station(s, code)
    heard = st.last_heartbeat_at
    if not st.online or heard is None or aware_utc(heard) < now - rules.offline_after:
        raise StationOffline(code)
    bank = (await s.execute(
        select(Bank).join(Slot, (Slot.station_id == Bank.station_id) & (Slot.n == Bank.slot_n))
        .where(Bank.station_id == st.id, Bank.state == "available", Bank.soc >= rules.min_soc,
               Slot.fault.is_(None), Slot.state != "fault")
        .order_by(Bank.soc.desc(), Bank.slot_n).limit(1).with_for_update(of=Bank))).scalar_one_or_none()
    if bank is None:
        raise NoChargedBank(code)
    bank.state, bank.updated_at = "reserved", now
    req = EjectRequest(req_id=wire.new_req_id(int(now.timestamp() * 1000)), station_id=st.id, slot_n=bank.slot_n,
                       bank_id=bank.id, rental_ref=rental_ref, issued_at=now, expires_at=now + rules.ttl,
                       state="pending")
    s.add(req)
    await s.flush()
    # rental_id is a non-empty string on the wire; an eject with no rental behind it (an operator's) names itself
    payload = wire.command("eject", req_id=req.req_id, rental_id=rental_ref or req.req_id, slot=bank.slot_n,
                           pb=bank.serial, issued_at=int(now.timestamp()),
                           expires_at=int(req.expires_at.timestamp()))
    return req, Command(req.req_id, wire.topic_of(code, "cmd"), payload)


def outcome_of(body: dict) -> tuple[str, str | None]:
    if body["ok"]:
        return "ok", None
    reason = body.get("reason") or "unknown"
    return ("expired" if reason == "expired" else "failed"), reason


async def apply_result(s: AsyncSession, st: Station, body: dict, now: datetime, hooks: StationHooks) -> str:
    """One eject_result (already deduplicated by evt_id). Returns what it did: ok / failed / expired /
    duplicate / incident / unknown_request."""
    req = (await s.execute(select(EjectRequest).where(EjectRequest.req_id == body["req_id"])
                           .with_for_update())).scalar_one_or_none()
    if req is None or req.station_id != st.id:
        journal.note(s, "alert", f"eject result for a request we never made ({body['req_id'][:26]})", now,
                     station_id=st.id, slot_n=body.get("slot"))
        return "unknown_request"
    state, reason = outcome_of(body)
    if req.state in OPEN and state == "ok" and body.get("pb"):
        await _came_out(s, st, req, body["pb"], now)
    if req.state in OPEN:
        await settle(s, st, req, state, reason, now, hooks, evt_id=body["evt_id"])
        return req.state
    if (state == "ok") == (req.state == "ok") or req.reason == f"{GONE}{reason}":
        return "duplicate"              # (the station's failed result again, for a bank the inventory saw gone)
    journal.note(s, "incident", f"request {req.req_id} settled {req.state}"
                 f"{' (' + req.reason + ')' if req.reason else ''} but the station now says {state}"
                 f"{' (' + reason + ')' if reason else ''}: check the slot and the rental", now,
                 station_id=st.id, bank_id=req.bank_id, slot_n=req.slot_n)
    return "incident"


async def _came_out(s: AsyncSession, st: Station, req: EjectRequest, serial: str, now: datetime) -> None:
    """An ok result naming another bank of this station than the one commanded (a station that erred or
    lies): the bank that came out is the one rented. Settling the commanded one instead left it in its slot,
    where the next heartbeat took it for a return: the renter kept the other bank, deposit back, no rental."""
    commanded = await s.get(Bank, req.bank_id)
    if commanded is None or commanded.serial == serial:
        return
    out = (await s.execute(select(Bank).where(Bank.serial == serial, Bank.station_id == st.id)
                           .with_for_update())).scalar_one_or_none()
    journal.note(s, "incident", f"eject {req.req_id} asked for {commanded.serial} (slot {req.slot_n}) but the station "
                 f"says {serial[:24]} came out{'' if out is not None else ' (not one of its banks)'}", now,
                 station_id=st.id, bank_id=commanded.id, slot_n=req.slot_n)
    if out is None or out.state != "available":
        return
    commanded.state, commanded.updated_at = ("available" if commanded.station_id is not None else "missing"), now
    req.bank_id, req.slot_n = out.id, out.slot_n


async def settle(s: AsyncSession, st: Station, req: EjectRequest, state: str, reason: str | None, now: datetime,
                 hooks: StationHooks, evt_id: str | None = None, inventory_decides: bool = True) -> None:
    """Settle an open request `state` (ok / failed / expired), telling `hooks` once. A failure for a bank out of
    every slot settles ok while `inventory_decides` (an operator's forced word does not: it is a failure)."""
    bank = (await s.execute(select(Bank).where(Bank.id == req.bank_id).with_for_update())).scalar_one()
    if state != "ok" and inventory_decides and bank.station_id is None and reason not in NOT_BY_THIS_EJECT:
        journal.note(s, "incident", f"eject {req.req_id}: the station says it failed ({reason}) but a heartbeat "
                     f"showed slot {req.slot_n} empty: taken as ejected, rental {req.rental_ref or '-'} runs; "
                     "check the slot and who holds the bank", now, station_id=st.id, bank_id=bank.id,
                     slot_n=req.slot_n)
        state, reason = "ok", f"{GONE}{reason}"[:40]
    req.state, req.reason, req.result_evt_id, req.settled_at = state, reason, evt_id, now
    if state == "ok":
        if bank.station_id is not None:
            bank.station_id = bank.slot_n = None
        bank.state, bank.updated_at = "rented", now
        await s.flush()
        await hooks.ejected(s, req)
        return
    if bank.station_id is not None:
        bank.state = "available"
    else:                               # it left some other way (NOT_BY_THIS_EJECT), or an operator's word
        bank.state = "missing"
        journal.note(s, "alert", f"eject of {bank.serial} failed ({reason}) but the bank is not in a slot", now,
                     station_id=st.id, bank_id=bank.id, slot_n=req.slot_n)
    bank.updated_at = now
    if reason in SLOT_FAULTS:
        slot = await s.get(Slot, (st.id, req.slot_n))
        if slot is not None:
            slot.state, slot.fault, slot.updated_at = "fault", reason, now
        journal.note(s, "fault", f"slot {req.slot_n}: eject failed ({reason}); out of use until it reports clear",
                     now, station_id=st.id, bank_id=bank.id, slot_n=req.slot_n)
    await s.flush()
    await hooks.eject_failed(s, req)


async def failed_before_leaving(s: AsyncSession, st: Station, bank: Bank) -> EjectRequest | None:
    """The eject of `bank` from its slot settled failed or expired since the station's last heartbeat, when `bank`
    (available, in that slot) is now seen gone from it: the station said it failed, yet it came out, after the
    rental was cancelled with its deposit back. The caller logs an incident naming that rental."""
    if bank.state != "available" or bank.station_id != st.id:
        return None
    # One the station did not act on, or found the slot empty for (NOT_BY_THIS_EJECT), did not take it out: a renter given the same bank
    # after it had already left; the rental to name is the one before
    req = await s.scalar(select(EjectRequest).where(
        EjectRequest.bank_id == bank.id, EjectRequest.station_id == st.id, EjectRequest.slot_n == bank.slot_n,
        EjectRequest.state.in_(("failed", "expired")),
        or_(EjectRequest.reason.is_(None), EjectRequest.reason.not_in(NOT_BY_THIS_EJECT)))
        .order_by(EjectRequest.settled_at.desc()).limit(1))
    seen = st.last_heartbeat_at
    if req is None or (seen is not None and aware_utc(req.settled_at) < aware_utc(seen)):
        return None                     # a heartbeat since showed it still there: it left later, not by this eject
    return req


async def sweep_unknown(s: AsyncSession, rules: Rules, now: datetime) -> list[str]:
    """Pending requests past `unknown_after` become unknown; the station codes to send `inventory` to.

    The stations' rows are locked first (in id order; one busy now is swept on the next tick), as every station
    message and an operator's settle lock them before a request: locking the requests first, the log rows written
    at the flush (their foreign key takes a share lock on the station) waited for a station whose holder waited
    for one of these requests, and PostgreSQL aborted one of the two (a deadlock)."""
    due = (EjectRequest.state == "pending", EjectRequest.issued_at <= now - rules.unknown_after)
    ids = (await s.scalars(select(EjectRequest.station_id).where(*due).distinct())).all()
    if not ids:
        return []
    ids = (await s.scalars(select(Station.id).where(Station.id.in_(ids)).order_by(Station.id)
                           .with_for_update(skip_locked=True))).all()
    rows = (await s.execute(select(EjectRequest, Station.code).join(Station, Station.id == EjectRequest.station_id)
                            .where(*due, EjectRequest.station_id.in_(ids))
                            .with_for_update(of=EjectRequest))).all()
    for req, code in rows:
        req.state, req.unknown_at = "unknown", now
        journal.note(s, "alert", f"no result for eject {req.req_id} in {rules.unknown_after.seconds} s: inventory "
                     f"asked", now, station_id=req.station_id, bank_id=req.bank_id, slot_n=req.slot_n, author="link")
    return sorted({code for _, code in rows})


async def decide_unknown(s: AsyncSession, st: Station, station_ts: int, now: datetime,
                         hooks: StationHooks) -> list[str]:
    """After a heartbeat of `st` was applied: settle its unknown requests from where their banks are now.

    Only a heartbeat stamped (by the station's own clock, `station_ts`) after a request's expires_at decides
    it: the station judges expires_at by that clock, so a cabinet whose clock lags ours might still pop the
    bank after our 35 s; its later heartbeats decide."""
    reqs = (await s.scalars(select(EjectRequest).where(EjectRequest.station_id == st.id,
                                                       EjectRequest.state == "unknown",
                                                       EjectRequest.unknown_at <= now)
                            .with_for_update())).all()
    reqs = [req for req in reqs if station_ts > aware_utc(req.expires_at).timestamp()]
    decided = []
    for req in reqs:
        bank = await s.get(Bank, req.bank_id)
        there = bank.station_id == st.id and bank.slot_n == req.slot_n
        await settle(s, st, req, "failed" if there else "ok", "still_in_slot" if there else None, now, hooks)
        decided.append(req.req_id)
    return decided
