"""The same hop sent many times at once: identical replies, one state change, one side effect."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from enerlectra.db.models import User
from tests.helpers import at_form, new_session_id
from ussd_app import appkeys

MSISDN = "+260971300001"


async def test_twenty_concurrent_copies_of_a_hop_give_one_reply_and_one_change(client):
    sid = new_session_id()
    texts = ["", "1", "1*Kapambwe", "1*Kapambwe*4826"]
    for text in texts:
        await client.post("/ussd/africastalking", data=at_form(sid, text, MSISDN))
    final = "1*Kapambwe*4826*4826"           # the hop that registers the user

    async def hop() -> str:
        resp = await client.post("/ussd/africastalking", data=at_form(sid, final, MSISDN))
        return await resp.text()

    replies = await asyncio.gather(*(hop() for _ in range(20)))
    assert len(set(replies)) == 1, set(replies)
    assert "Welcome, Kapambwe!" in replies[0]

    async with client.app[appkeys.DB]() as s:
        assert (await s.execute(select(func.count()).select_from(User).where(User.msisdn == MSISDN))).scalar() == 1
    session = await client.app[appkeys.ENGINE].store.load_session(sid)
    assert session.state == "main_menu"
    assert session.history == [], "one transition into the main menu, not twenty"
    metrics = await (await client.get("/metrics")).text()
    assert "ussd_replays_total 19.0" in metrics


async def test_concurrent_new_sessions_of_one_number_do_not_collide(client):
    async def dial(n: int) -> str:
        resp = await client.post("/ussd/africastalking", data=at_form(f"{new_session_id()}-{n}", "", MSISDN))
        return await resp.text()

    replies = await asyncio.gather(*(dial(n) for n in range(10)))
    assert all("Choose your language" in r for r in replies)
