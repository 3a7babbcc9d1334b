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


async def _kept(done) -> None:
    """A sink that hands nothing to the queues: the rows stay committed for the sweepers (or the test)."""


def committed_only(db):
    """A unit of work whose follow-ups are never enqueued (a test that reads the rows, or plays a lost enqueue)."""
    from enerlectra.domain.work import unit_of_work

    return unit_of_work(db, jobs=_kept)
