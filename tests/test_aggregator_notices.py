"""End-of-session notices of every aggregator that sends them: only the session owner's number ends it."""
from __future__ import annotations

import pytest

from tests.test_aggregator_conformance import TABLES, USER, Line, _event
from ussd_app.aggregators.registry import ADAPTERS

NOTICES = [name for name, table in TABLES.items() if "end_notice" not in table.skipped]


@pytest.mark.parametrize("name", NOTICES)
@pytest.mark.parametrize("number,ends", [(USER, True), ("+260961700009", False)])
async def test_a_notice_ends_the_session_only_when_it_names_its_owner(client, name, number, ends):
    table = TABLES[name]
    wire = table.wire()
    line = Line(client, wire, USER)
    await line.dial()
    assert "name" in (await line.press("1")).lower()
    line.call.msisdn = number                          # the notice names this number
    notice = table.end_notice(line.call)
    line.call.msisdn = USER
    sent = {"data": notice} if wire.form else {"json": notice}
    resp = await client.post(table.notice_path or line.path, **sent)
    assert resp.status == 200, await resp.text()
    after = await line.press("Mwila")
    assert after.startswith("END " if ends else "CON "), after
    assert (await _event(client, line.session_id) is not None) is ends


def test_the_table_has_notices():
    assert set(NOTICES) >= {"africastalking", "beem", "hubtel"}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
async def test_an_africastalking_session_id_shaped_like_another_aggregators_is_a_400(client, name):
    hop, event = ("/ussd/africastalking", {"text": ""}), ("/ussd/africastalking/events", {"status": "Failed"})
    for path, extra in (hop, event):
        resp = await client.post(path, data={"sessionId": f"{name}:abc", "phoneNumber": USER, **extra})
        assert resp.status == 400 and "sessionId" in await resp.text(), path
