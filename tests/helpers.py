"""Small helpers the tests share: posting AT hops, and checking a screen the way lint does."""
from __future__ import annotations

import uuid

from enerlectra.text.gsm7 import is_gsm7, screen_units


def at_form(session_id: str, text: str = "", msisdn: str = "+260971234567", **extra: str) -> dict[str, str]:
    return {"sessionId": session_id, "phoneNumber": msisdn, "serviceCode": "*123#",
            "networkCode": "64501", "text": text, **extra}


def new_session_id() -> str:
    return f"ATUid_test_{uuid.uuid4().hex}"


def assert_screen_ok(wire: str) -> None:
    assert wire.startswith(("CON ", "END ")), wire
    body = wire[4:]
    assert is_gsm7(body), body
    assert screen_units(body) <= 160, (screen_units(body), body)


class AtPhone:
    """A handset on Africa's Talking's wire through a test client: `dial`, then `press` keys (the text grows,
    as AT sends it). Every screen is checked the way lint checks it."""

    def __init__(self, client, msisdn: str):
        self.client, self.msisdn, self.sid, self.inputs = client, msisdn, new_session_id(), []

    async def hop(self, text: str) -> str:
        resp = await self.client.post("/ussd/africastalking", data=at_form(self.sid, text, self.msisdn))
        wire = await resp.text()
        assert resp.status == 200 and assert_screen_ok(wire) is None
        return wire

    async def dial(self) -> str:
        self.sid, self.inputs = new_session_id(), []
        return await self.hop("")

    async def press(self, *keys: str) -> str:
        for key in keys:
            self.inputs.append(key)
            wire = await self.hop("*".join(self.inputs))
        return wire


async def _kept(done) -> None:
    """A sink that hands nothing to the queues: the rows stay committed for the sweepers (or the test)."""


def committed_only(db):
    """A unit of work whose follow-ups are never enqueued (a test that reads the rows, or plays a lost enqueue)."""
    from enerlectra.domain.work import unit_of_work

    return unit_of_work(db, jobs=_kept)
