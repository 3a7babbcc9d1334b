"""A dial-string shortcut walks at most MAX_SHORTCUT_PARTS parts in one hop; a longer one opens the plain
first screen, on every aggregator."""
from __future__ import annotations

import pytest

from tests.test_aggregator_conformance import TABLES, USER, _registered
from ussd_app.engine.core import MAX_SHORTCUT_PARTS

HOME, WALLET = "Enerlectra - hi", "Money:"


def _parts(n: int) -> str:
    return "*".join(["1", "0"] * (n // 2) + ["1"] * (n % 2))       # wallet, back, wallet, ...: odd ends in it


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("count,walked", [(1, True), (MAX_SHORTCUT_PARTS - 1, True),
                                          (MAX_SHORTCUT_PARTS + 1, False), (41, False)])
async def test_a_shortcut_of_more_parts_than_the_cap_is_not_walked(client, name, count, walked):
    wire = TABLES[name].wire()
    line = await _registered(client, wire, USER, "Mwila")
    parts = _parts(count)
    line.call = wire.new_call(USER, "*123#", f"*123*{parts}#", parts)
    opened = await line.post(wire.first(line.call))
    assert (WALLET in opened) is walked, opened
    if not walked:
        assert HOME in opened, opened
