"""A fleet of fake stations run together on one broker, from arguments or a small YAML file:

    stations:
      - {code: "4021", name: Soweto Market, area: Lusaka, slots: 8, banks: 6}

Banks that leave a slot go into the fleet's one hand (the renters'), so a bank taken at one station can be
returned at any other: `await fleet.return_bank("4022")` puts the bank in hand into a free slot there.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from simulator.stations.cabinet import FULL, Bank, Battery
from simulator.stations.protocol import check_code
from simulator.stations.station import FakeStation

AREAS = ("Lusaka", "Kitwe", "Ndola", "Dar es Salaam", "Arusha", "Mwanza")
FIRST_CODE = 4001
SAMPLE = Path(__file__).with_name("fleet.yaml")


@dataclass(frozen=True)
class StationSpec:
    code: str
    name: str
    area: str
    slots: int
    banks: int

    def __post_init__(self):
        check_code(self.code)
        if not 1 <= self.slots <= 99 or not 0 <= self.banks <= self.slots:
            raise ValueError(f"station {self.code}: 1 to 99 slots and 0 to that many banks "
                             f"(got {self.slots} slots, {self.banks} banks)")


def default_banks(slots: int) -> int:
    """Stocked with a free slot or two left for returns."""
    return slots - min(2, slots // 2)


def specs_from_args(stations: int, slots: int, first_code: int = FIRST_CODE) -> list[StationSpec]:
    if not 1 <= stations <= 10_000 or first_code + stations - 1 > 999_999:
        raise ValueError(f"{stations} stations from code {first_code}: 1 to 10000, codes of at most 6 digits")
    return [StationSpec(str(code), f"Station {code}", AREAS[i % len(AREAS)], slots, default_banks(slots))
            for i, code in enumerate(range(first_code, first_code + stations))]


def specs_from_yaml(path: str | Path) -> list[StationSpec]:
    data = yaml.safe_load(Path(path).read_text())
    rows = data.get("stations") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: a `stations:` list, e.g. - {{code: \"4021\", name: Soweto Market, slots: 8}}")
    specs = []
    for row in rows:
        if not isinstance(row, dict) or "code" not in row:
            raise ValueError(f"{path}: every station needs a code (4 to 6 digits): {row!r}")
        slots = int(row.get("slots", 8))
        specs.append(StationSpec(str(row["code"]), str(row.get("name") or f"Station {row['code']}"),
                                 str(row.get("area", "")), slots, int(row.get("banks", default_banks(slots)))))
    if len({s.code for s in specs}) != len(specs):
        raise ValueError(f"{path}: a station code appears twice")
    return specs


def serial(code: str, slot: int) -> str:
    """The bank first stocked in slot `slot` of station `code`: PB + 8 digits, unique in the fleet."""
    return f"PB{int(code):06d}{slot:02d}"


class Fleet:
    def __init__(self, specs: list[StationSpec], mqtt_url: str, *, heartbeat_seconds: float = 60.0,
                 battery: Battery | None = None, clock: Callable[[], float] = time.time):
        self.hand: dict[str, Bank] = {}          # banks out of every slot of the fleet
        self.stations: dict[str, FakeStation] = {}
        for spec in specs:
            station = FakeStation(spec.code, spec.slots, mqtt_url=mqtt_url, name=spec.name, area=spec.area,
                                  heartbeat_seconds=heartbeat_seconds, battery=battery, clock=clock,
                                  hand=self.hand)
            charge = random.Random(spec.code)          # the same fleet on every run
            for n in range(1, spec.banks + 1):
                station.cabinet.load(n, serial(spec.code, n), charge.choice((FULL, FULL, 90, 75, 60, 40, 15)))
            self.stations[spec.code] = station

    async def start(self) -> None:
        await asyncio.gather(*(s.start() for s in self.stations.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.stations.values()))

    async def __aenter__(self) -> "Fleet":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def station(self, code: str) -> FakeStation:
        try:
            return self.stations[str(code).strip()]
        except KeyError:
            raise ValueError(f"no station {code} in this fleet") from None

    def held(self) -> list[str]:
        """Serials of the banks out of every slot (in renters' hands), oldest first."""
        return list(self.hand)

    async def return_bank(self, code: str, pb: str | None = None, soc: int | None = None) -> int:
        """The bank `pb` (default: the one bank in hand) goes into a free slot at station `code`; its slot."""
        station = self.station(code)
        if pb is None:
            if len(self.hand) != 1:
                held = ", ".join(self.hand) or "none"
                raise ValueError(f"say which bank to return: banks in hand: {held}")
            pb = next(iter(self.hand))
        where = next((s.sid for s in self.stations.values() if s.cabinet.holds(pb)), None)
        if where is not None:
            raise ValueError(f"{pb} is in a slot of station {where}, not in anyone's hand")
        return await station.return_bank(pb, soc)
