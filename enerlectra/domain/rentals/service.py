"""The rental kernel (issue 20): what the USSD menus and SMS keywords call. The contract (names, codes, the
view) is fixed with the rentals-ui branch: change it only by adding.

`db` is the app's sessionmaker (Services.db): each call is its own unit of work. Every value-moving step is
keyed by what the renter's channel resends (a USSD hop key, an SMS id) or by the rental row, never by Redis
state: the same request again finds the rental its key made (request_key is UNIQUE) and creates nothing.

Rent, in one transaction: the station's row lock first (as request_eject takes it), then the rental row (its
UNIQUE request_key and the partial UNIQUE index of one open rental per user are the claims: a twin that
waited for the lock finds the winner's row), then the eject request (a bank reserved), then what the renter
still owes for earlier rentals paid (holds.pay_debts: those rentals' rows, then the wallet), then the deposit
held. A refusal raises RentRefused and rolls all of it back: no money moves. The eject command is published
after the commit (`publish`: e.g. `lambda c: link.publish(c.topic, c.payload)`); a publish that fails leaves
the request pending: it goes unknown and the station's inventory decides, as for a lost result.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import datetime, timezone
from typing import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enerlectra import clock, faults
from enerlectra.db.models import JournalEntry, Rental, Station, User
from enerlectra.domain import ledger, outbox
from enerlectra.domain.rentals import billing, ending, holds, texts
from enerlectra.domain.rentals.tariff import NoTariff, Tariff, tariff_for
from enerlectra.domain.rentals.views import OPEN, RentalView, billed, number, tariff_of, terms_of, view
from enerlectra.domain.stations import ejects, fleet, places, wire
from enerlectra.domain.stations.ejects import Command
from enerlectra.domain.stations.fleet import StationView
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import in_language_of
from enerlectra.settings import Settings

__all__ = ["RentRefused", "ExtendRefused", "NoOpenRental", "KeyTaken", "RentalView", "configure", "quote", "owed", "rent",
           "wait_for_eject", "current", "extend", "report_lost", "recent_stations", "find_stations"]

log = logging.getLogger("enerlectra.rentals")
_settings: Settings | None = None
POLL_SECONDS = 0.25
KEY_MAX = 100                 # rentals.request_key holds 120; ledger keys add ":deposit" / ":extend"


def configure(settings: Settings) -> None:
    """The settings this process rents by (create_app, the worker's runtime); unset: from the environment."""
    global _settings
    _settings = settings


def settings() -> Settings:
    return _settings or Settings.from_env()


class RentRefused(Exception):
    """No rental: `code` says why (unknown_station, offline, no_bank, open_rental, short, wrong_country, owed:
    the wallet cannot pay the earlier rentals' debts, `owed`, and the deposit; `needed` is what it lacks)."""

    def __init__(self, code: str, station: str = "", needed: int = 0, owed: int = 0):
        super().__init__(code)
        self.code, self.station, self.needed, self.owed = code, station, needed, owed


class ExtendRefused(Exception):
    """No extension: `code` is billing's rule (hours, late, most), or short (`needed`: what the wallet lacks)."""

    def __init__(self, code: str, needed: int = 0):
        super().__init__(code)
        self.code, self.needed = code, needed


class KeyTaken(ValueError):
    """Another user's request carried this key (hop keys and SMS ids are unique: a caller's bug, never a user's)."""


class NoOpenRental(LookupError):
    """The user has no open (ejecting or active) rental to extend or report lost."""


def request_key(key: str) -> str:
    """The caller's key as stored (rentals.request_key, end_key, ledger keys): as given (enerlectra/domain/hops.py
    reads it back), but a long one replaced by its digest, so a key of any length is accepted and the same key
    always maps to the same row."""
    key = str(key)
    return key if len(key) <= KEY_MAX else "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:48]


def rules() -> ejects.Rules:
    return ejects.Rules.from_settings(settings())


# -- before renting --------------------------------------------------------------------------------------

async def _station(s: AsyncSession, user: User, code: str) -> StationView:
    found = await fleet.views(s, settings().rental_min_soc, code=code) if wire.CODE.fullmatch(code) else []
    if not found:
        raise RentRefused("unknown_station", code)
    if found[0].country != user.country:
        raise RentRefused("wrong_country", code)
    return found[0]


def _tariff(user: User, code: str) -> Tariff:
    try:
        return tariff_for(settings(), user.currency)
    except NoTariff:
        raise RentRefused("wrong_country", code) from None


async def _open_rental(s: AsyncSession, user_id: int, lock: bool = False) -> Rental | None:
    query = select(Rental).where(Rental.user_id == user_id, Rental.state.in_(OPEN))
    return (await s.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def quote(db: async_sessionmaker, user: User, station_code: str) -> tuple[Tariff, StationView]:
    """The terms screen: the tariff and the station, or RentRefused for what would refuse the rental now."""
    async with db() as s:
        station = await _station(s, user, station_code)
        tariff = _tariff(user, station_code)
        if not station.online:
            raise RentRefused("offline", station_code)
        if station.free_banks == 0:
            raise RentRefused("no_bank", station_code)
        if await _open_rental(s, user.id) is not None:
            raise RentRefused("open_rental", station_code)
        balance = await holds.wallet_balance(s, user.id, user.currency)
        owed = await holds.owed_total(s, user.id, tariff.currency)
        if balance < owed + tariff.deposit:
            raise RentRefused("owed" if owed else "short", station_code, owed + tariff.deposit - balance, owed)
        return tariff, station


async def owed(db: async_sessionmaker, user: User) -> int:
    """What the user's earlier rentals still owe: a rent pays it before it holds the deposit."""
    async with db() as s:
        return await holds.owed_total(s, user.id, user.currency)


# -- renting ---------------------------------------------------------------------------------------------

async def rent(db: async_sessionmaker, user: User, station_code: str, key: str,
               publish: Callable[[Command], Awaitable[object]]) -> RentalView:
    """Hold the deposit, reserve a bank, store the rental; publish the eject after the commit. The same key
    again returns the same rental and publishes nothing. Raises RentRefused before any money moves."""
    code, key = station_code.strip(), request_key(key)
    for attempt in (1, 2):
        command = None
        try:
            async with unit_of_work(db) as s:
                rental = await _by_key(s, key, user)
                if rental is None:
                    rental, command = await _rent(s, user, code, key)
                shown = await view(s, rental, clock.now())
            break
        except IntegrityError:               # a twin with this key, or another open rental, committed first
            async with db() as s:
                rental = await _by_key(s, key, user)
                if rental is not None:
                    return await view(s, rental, clock.now())
                if await _open_rental(s, user.id) is not None or attempt == 2:
                    raise RentRefused("open_rental", code) from None
            # else the random ref was taken (one in millions): once more with another
    if command is not None:
        try:
            await publish(command)
        except Exception as exc:             # noqa: BLE001 -- stored: it goes unknown and the inventory decides
            log.warning("rental %s: eject %s not published (%s); the inventory decides", shown.ref, command.req_id,
                        type(exc).__name__)
    return shown


async def _by_key(s: AsyncSession, key: str, user: User) -> Rental | None:
    found = await s.scalar(select(Rental).where(Rental.request_key == key))
    if found is not None and found.user_id != user.id:
        raise KeyTaken(key)
    return found


async def _rent(s: AsyncSession, user: User, code: str, key: str) -> tuple[Rental, Command | None]:
    now = clock.now()
    try:
        # The station's row lock first, as request_eject takes it: the rental row's foreign key would take a
        # share lock on it, and two renters holding that while each waits for the update lock deadlock.
        st = await places.station(s, code)
    except places.UnknownStation:
        raise RentRefused("unknown_station", code) from None
    if st.country != user.country:
        raise RentRefused("wrong_country", code)
    twin = await _by_key(s, key, user)             # committed by a twin with this key while we waited for the lock
    if twin is not None:
        return twin, None
    tariff = _tariff(user, code)
    if await _open_rental(s, user.id) is not None:
        raise RentRefused("open_rental", code)
    rental = Rental(ref=f"R-{secrets.randbelow(9_000_000) + 1_000_000}", request_key=key, user_id=user.id,
                    station_id=st.id, currency=tariff.currency, terms=terms_of(tariff), state="ejecting",
                    deposit=tariff.deposit, prepaid=0, owed=0, created_at=now)
    s.add(rental)
    await s.flush()                          # the claims: request_key, one open rental per user, ref
    try:
        req, command = await ejects.request_eject(s, code, rules(), now, rental.ref)
    except ejects.Refused as exc:
        raise RentRefused(exc.code, code) from None
    try:
        debts = await holds.pay_debts(s, key, user.id, tariff.currency, tariff.deposit)
    except holds.Short as exc:
        raise RentRefused("owed", code, exc.missing, exc.owed) from None
    if debts:
        faults.point("rentals.rent.after_debts")
    try:
        posted = await holds.hold_deposit(s, key, user.id, tariff.currency, tariff.deposit)
    except ledger.InsufficientFunds as exc:
        raise RentRefused("short", code, exc.needed - exc.balance) from None
    rental.req_id, rental.bank_id, rental.slot_n, rental.deposit_entry_id = req.req_id, req.bank_id, req.slot_n, \
        posted.entry_id
    await s.flush()
    if debts:                                # the terms screen said so; the SMS is the receipt of it
        body = in_language_of(user, texts.debts_paid_text, number(rental.ref), sum(d.amount for d in debts),
                              tariff.currency)
        await outbox.add(s, user.msisdn, body, "rental", essential=True, dedupe_key=f"rental:{rental.id}:owed_paid")
    return rental, command


async def wait_for_eject(db: async_sessionmaker, ref: str, seconds: float) -> RentalView:
    """Polls until the rental's eject request leaves pending (or `seconds` pass): the view then."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        async with db() as s:
            rental = await s.scalar(select(Rental).where(Rental.ref == ref))
            if rental is None:
                raise NoOpenRental(ref)
            shown = await view(s, rental, clock.now())
        if shown.eject_state != "pending" or asyncio.get_running_loop().time() >= deadline:
            return shown
        await asyncio.sleep(POLL_SECONDS)


async def current(db: async_sessionmaker, user: User) -> RentalView | None:
    """The open rental (ejecting or active), or None."""
    async with db() as s:
        rental = await _open_rental(s, user.id)
        return await view(s, rental, clock.now()) if rental is not None else None


# -- while it is out -------------------------------------------------------------------------------------

async def extend(db: async_sessionmaker, user: User, hours: int, key: str) -> RentalView:
    """Buy `hours` more, paid from the wallet now (billing.extend's price). The same key again changes nothing.
    Raises NoOpenRental, ExtendRefused."""
    now, key = clock.now(), request_key(key)
    async with unit_of_work(db) as s:
        if await s.scalar(select(JournalEntry.id).where(JournalEntry.idempotency_key == f"{key}:extend")):
            return await view(s, await _newest(s, user.id), now)     # the same request again: done already
        rental = await _open_rental(s, user.id, lock=True)
        if rental is None or rental.state != "active":
            raise NoOpenRental(user.id)
        try:
            ext = billing.extend(tariff_of(rental), billed(rental), hours, now)
        except billing.BadExtension as exc:
            raise ExtendRefused(str(exc)) from None
        try:
            posted = await holds.charge_extension(s, key, rental, ext.price)
        except ledger.InsufficientFunds as exc:
            raise ExtendRefused("short", exc.needed - exc.balance) from None
        if posted.created:                   # else a twin of this request committed while we waited
            rental.due_at, rental.prepaid = _at(ext.rental.due_at), ext.rental.prepaid
        return await view(s, rental, now)


async def _newest(s: AsyncSession, user_id: int) -> Rental:
    return await s.scalar(select(Rental).where(Rental.user_id == user_id).order_by(Rental.id.desc()).limit(1))


async def report_lost(db: async_sessionmaker, user: User, key: str) -> RentalView:
    """The renter says the bank is lost: billed once (billing's lost bill). Raises NoOpenRental."""
    key = request_key(key)
    async with unit_of_work(db) as s:
        done = await s.scalar(select(Rental).where(Rental.end_key == key))
        if done is not None and done.user_id != user.id:
            raise KeyTaken(key)
        if done is not None:                 # the same report again: the rental it closed
            return await view(s, done, clock.now())
        rental = await ending.locked_for_end(s, select(Rental).where(Rental.user_id == user.id,
                                                                      Rental.state.in_(OPEN)))
        if rental is None or rental.state != "active":
            raise NoOpenRental(user.id)
        rental.end_key = key
        await ending.declare_lost(s, rental, clock.now())
        return await view(s, rental, clock.now())


# -- finding a station -----------------------------------------------------------------------------------

async def recent_stations(db: async_sessionmaker, user: User, limit: int = 3) -> list[StationView]:
    """The stations the user rented at last, newest first (for "pick a recent one")."""
    async with db() as s:
        codes = []
        for code in (await s.scalars(select(Station.code).join(Rental, Rental.station_id == Station.id)
                                     .where(Rental.user_id == user.id).order_by(Rental.id.desc()).limit(50))):
            if code not in codes:
                codes.append(code)
        return [view for c in codes[:limit] for view in await fleet.views(s, settings().rental_min_soc, code=c)]


async def find_stations(db: async_sessionmaker, area: str, limit: int = 5) -> list[StationView]:
    """Stations whose area contains `area`: online ones with charged banks first."""
    area = " ".join(area.split())[:40]
    if not area:
        return []
    async with db() as s:
        found = await fleet.views(s, settings().rental_min_soc, area)
    return sorted(found, key=lambda v: (not v.online, -v.free_banks, v.code))[:limit]


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)
