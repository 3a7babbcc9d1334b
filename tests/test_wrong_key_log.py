"""A wrong key is answered by the engine ("Reply with a number from the list." or the screen's own hint) and
logs nothing: `transitions` would log a WARNING for each key typed on a screen no input leads away from."""
from __future__ import annotations

import logging

import pytest

from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from tests.helpers import assert_screen_ok, at_form, new_session_id
from ussd_app import appkeys

MSISDN = "+260971800002"

# (the screen, keys from the main menu, the wrong key, the line the user gets on top)
ROWS = [
    ("history", ["1", "1"], "5", "Reply with a number from the list."),
    ("the market", ["5", "4"], "7", "Reply with a number from the list."),
    ("my meters", ["3", "3"], "hello", "Reply with a number from the list."),
    ("main menu", [], "9", "Reply with a number from the list."),
    ("wallet menu", ["1"], "x", "Reply with a number from the list."),
    ("send money: the number", ["1", "2"], "abc", "Type a phone number, like 0971234567."),
    ("change PIN: the old PIN", ["3", "2"], "12", "Type your 4-digit PIN."),
]


@pytest.mark.parametrize("label,keys,wrong,hint", ROWS, ids=[r[0] for r in ROWS])
async def test_a_wrong_key_is_answered_and_not_logged(client, caplog, label, keys, wrong, hint):
    await users.register(client.app[appkeys.DB], parse_msisdn(MSISDN), "Lubuto", "en",
                         hash_user_pin("4826", 16))
    sid, path = new_session_id(), []
    for key in [None, *keys, wrong, wrong]:              # twice: the hint screen answers a wrong key too
        if key is not None:
            path.append(key)
        if key is wrong:
            caplog.clear()
            caplog.set_level(logging.DEBUG)
        resp = await client.post("/ussd/africastalking", data=at_form(sid, "*".join(path), MSISDN))
        wire = await resp.text()
        assert resp.status == 200 and assert_screen_ok(wire) is None
        if key is wrong:
            assert wire.startswith(f"CON {hint}\n"), wire
            noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert noisy == [], [(r.name, r.getMessage()) for r in noisy]
