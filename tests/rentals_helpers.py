"""A rental shop for tests: stations played in SQL (tests/stations_helpers.py's Cabinet, parsed by the real wire
checks and applied by the real station code) with the real RentalHooks, renters with money, a fake clock."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from enerlectra import clock
from enerlectra.db.models import Account, Rental
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.rentals import holds, service
from enerlectra.domain.rentals.hooks import RentalHooks
from enerlectra.domain.stations.ejects import Command
from tests.stations_helpers import Cabinet, World, at


class Shop:
    def __init__(self, database, settings, monkeypatch):
        self.world = World(database)
        self.world.hooks = RentalHooks(settings)
        self.db = self.world.db
        self.t = 0.0                              # seconds after stations_helpers.T0: clock.now() for everyone
        monkeypatch.setattr(clock, "now", lambda: self.now)
        self.sent: list[Command] = []

    @property
    def now(self) -> datetime:
        return at(self.t)

    async def close(self) -> None:
        await self.world.close()

    async def publish(self, command: Command) -> None:
        self.sent.append(command)

    async def station(self, sid: str, slots: int, banks: int, soc: int = 100) -> Cabinet:
        await self.world.add(sid, slots)
        cab = Cabinet(sid, slots)
        for n in range(1, banks + 1):
            cab.banks[n] = (f"PB{sid}{n:02d}", soc)
        await self.world.apply(cab.hb(), self.now)
        return cab

    async def renter(self, msisdn: str, money: int) -> object:
        user = await users.register(self.db, parse_msisdn(msisdn), "Renter", "en", pin_hash="not-used")
        if money:
            await wallet.credit(self.db, f"test:fund:{msisdn}", user, user.currency, money, "test")
        return user

    async def rent(self, user, sid: str, key: str):
        return await service.rent(self.db, user, sid, key, self.publish)

    async def ejecting(self, sid: str, msisdn: str, after: float, sweep: bool = False):
        """A station with one bank and a renter whose eject was sent and not answered `after` seconds later (`sweep`:
        the unknown sweep has run): (cabinet, renter, rental view, the eject command)."""
        cab = await self.station(sid, slots=4, banks=1)
        user = await self.renter(msisdn, 50_000)
        view = await self.rent(user, sid, f"hop:{msisdn}")
        self.t = after
        if sweep:
            await self.world.sweep(self.now)
        return cab, user, view, self.command(view.ref)

    def command(self, ref: str) -> dict:
        found = [json.loads(c.payload) for c in self.sent if json.loads(c.payload)["rental_id"] == ref]
        assert len(found) == 1, found
        return found[0]

    async def eject_result(self, cab: Cabinet, ref: str, ok: bool = True, reason: str | None = None,
                           evt_seq: int | None = None) -> str:
        cmd = self.command(ref)
        if ok:
            cab.banks[cmd["slot"]] = None
        # stamped as give_back stamps: a cabinet with no clock of its own set agrees with ours (a return stamped
        # before its eject's result, same boot, is an earlier rental's, events._stamped_before_its_eject)
        body = dict(slot=cmd["slot"], pb=cmd["pb"], req_id=cmd["req_id"], ok=ok,
                    ts=cab.ts or int(self.now.timestamp()))
        if reason:
            body["reason"] = reason
        return await self.world.apply(cab.evt("eject_result", evt_seq, **body), self.now)

    async def give_back(self, cab: Cabinet, serial: str, evt_seq: int | None = None) -> str:
        slot = next(n for n, b in cab.banks.items() if b is None and not cab.faults.get(n))
        cab.banks[slot] = (serial, 40)
        stamp = cab.ts or int(self.now.timestamp())     # a cabinet with no clock of its own set agrees with ours
        return await self.world.apply(cab.evt("return", evt_seq, slot=slot, pb=serial, soc=40, ts=stamp), self.now)

    async def rental(self, ref: str) -> Rental:
        async with self.db() as s:
            return await s.scalar(select(Rental).where(Rental.ref == ref))

    async def balance(self, code: str) -> int:
        async with self.db() as s:
            return await s.scalar(select(Account.balance).where(Account.code == code)) or 0

    async def wallet(self, user) -> int:
        return await self.balance(ledger.user_code(user.id, user.currency))

    async def held(self, currency: str = "ZMW") -> int:
        return await self.balance(ledger.system_code(holds.DEPOSITS, currency))

    async def revenue(self, currency: str = "ZMW") -> int:
        return await self.balance(ledger.system_code(holds.REVENUE, currency))

    async def books_ok(self) -> None:
        async with self.db() as s:
            assert await ledger.verify(s) + await holds.check_deposits(s) == []
