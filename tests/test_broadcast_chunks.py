"""A broadcast goes out in short transactions of CHUNK recipients; confirms posted at once or again queue
nobody twice, opted-out users never, and the audit rows account for every SMS queued."""
from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from enerlectra.db.models import SmsOutbox
from enerlectra.domain import audit
from sms import broadcast
from tests.console_seeds import add_user, audit_rows
from ussd_app import appkeys


async def test_chunked_concurrent_and_repeated_confirms_queue_each_recipient_once(client, monkeypatch):
    monkeypatch.setattr(broadcast, "CHUNK", 3)
    for n in range(7):
        await add_user(client.app, f"+2609718000{n:02d}", f"U{n}", opt_out=False)
    await add_user(client.app, "+260971800099", "Stopped", opt_out=True)
    db, audience, who = client.app[appkeys.DB], broadcast.Audience(country="ZM"), audit.Actor("admin@example.com", None)
    queued = await asyncio.gather(*[broadcast.send(db, audience, "Meeting on Friday", "b-1", who) for _ in range(3)])
    assert sum(queued) == 7
    assert await broadcast.send(db, audience, "Meeting on Friday", "b-1", who) == 0       # posted again later
    async with client.app[appkeys.DB_READ]() as s:
        rows = (await s.execute(select(SmsOutbox.msisdn, func.count()).where(SmsOutbox.kind == "broadcast")
                                .group_by(SmsOutbox.msisdn))).all()
    assert len(rows) == 7 and {n for _m, n in rows} == {1} and "+260971800099" not in {m for m, _n in rows}
    assert sum(json.loads(r.after)["count"] for r in await audit_rows(client.app, "sms.broadcast")) == 7
