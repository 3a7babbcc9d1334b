"""fleet.views: the whole fleet's listing (one pass over every slot, the console's list and `stations list`) says
of every station what that station's own view (counted per station, as a USSD hop reads it) and its area's say:
charged banks free and free slots, with banks rented out, a bank gone from its slot, a faulted slot, low
charge, and for every minimum charge."""
from __future__ import annotations

import pytest

from enerlectra.domain.stations import fleet
from tests.rentals_helpers import Shop
from tests.test_console_stations import _fleet


@pytest.fixture
async def shop(database, settings, monkeypatch):
    found = Shop(database, settings, monkeypatch)
    yield found
    await found.close()


@pytest.mark.parametrize("min_soc", [0, 41, 80, 100])
async def test_the_listing_says_what_each_stations_own_view_says(shop, min_soc):
    await _fleet(shop)
    await shop.station("5204", slots=5, banks=4, soc=40)              # charged below most minimums
    async with shop.db() as s:
        every = await fleet.views(s, min_soc)
        one_by_one = [view for v in every for view in await fleet.views(s, min_soc, code=v.code)]
        by_area = {v.code: v for area in {v.area for v in every} for v in await fleet.views(s, min_soc, area)}
    assert every == one_by_one == [by_area[v.code] for v in every]
    assert [v.code for v in every] == ["5201", "5202", "5203", "5204"]
    assert any(v.free_banks for v in every) and any(v.free_slots for v in every)
