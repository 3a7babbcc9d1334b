"""Issue 20's closing check as a test: a rental end to end through `enerlectra serve --workers 2` (its station
link process, its web processes publishing), a fake fleet on the broker, USSD, the CLI, the return event and
`ledger verify` (simulator/rental_e2e.py). The broker: serve's embedded one, or TEST_MQTT_URL's (CI's second
phase runs a Mosquitto of its own there)."""
from __future__ import annotations

import os

from simulator import rental_e2e


async def test_a_rental_end_to_end_through_serve():
    lines: list[str] = []
    code = await rental_e2e.run(os.environ.get("TEST_MQTT_URL"), workers=2, out=lines.append)
    assert code == 0, "\n".join(lines)
    assert any(line.startswith("rented at 4601:") for line in lines)
    assert any(line.startswith("returned at 4602") for line in lines)
    assert any("rental deposits match open rentals" in line for line in lines)
