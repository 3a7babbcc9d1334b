"""A broadcast never delays the SMS a user is waiting for: the worker claims every other queued row before a
broadcast's (sms_outbox.bulk, read from a partial index of the queued rows)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from enerlectra.db.models import SmsOutbox
from enerlectra.domain import audit, outbox, users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.work import unit_of_work
from sms import broadcast
from ussd_app import appkeys

LEASE = timedelta(seconds=60)


async def claim(db, limit: int) -> list[SmsOutbox]:
    async with db() as s, s.begin():
        return await outbox.claim_due(s, LEASE, limit=limit)


async def test_an_otp_written_after_a_broadcast_is_claimed_before_it(client):
    db = client.app[appkeys.DB]
    for n in range(30):
        await users.register(db, parse_msisdn(f"+2609718100{n:02d}"), f"U{n}", "en", "not-a-pin-hash")
    assert await claim(db, limit=1000) == []       # registering queues nothing (no welcome SMS)
    queued = await broadcast.send(db, broadcast.Audience(country="ZM"), "Meeting on Friday", "b-prio",
                                  audit.Actor("admin@example.com", None))
    async with unit_of_work(db) as s:
        otp = await outbox.add(s, "+260971810007", "Your code is 123456", "otp", essential=True)
        receipt = await outbox.add(s, "+260971810008", "You received K10.00", "receipt")
    first = await claim(db, limit=5)
    assert [(r.id, r.kind) for r in first[:2]] == [(otp.id, "otp"), (receipt.id, "receipt")]
    assert queued == 30 and [r.kind for r in first[2:]] == ["broadcast"] * 3
    rest = await claim(db, limit=100)
    assert len(first) + len(rest) == queued + 2 and {r.kind for r in rest} == {"broadcast"}
    assert [r.id for r in rest] == sorted(r.id for r in rest)         # oldest first within the broadcast


async def test_only_a_broadcast_is_bulk(client):
    db = client.app[appkeys.DB]
    await users.register(db, parse_msisdn("+260971810100"), "Ana", "en", "not-a-pin-hash")
    await broadcast.send(db, broadcast.Audience(country="ZM"), "Hello", "b-bulk", audit.Actor("a@example.com", None))
    async with unit_of_work(db) as s:
        await outbox.add(s, "+260971810100", "Hi", "reply")
    async with client.app[appkeys.DB_READ]() as s:
        kinds = dict((await s.execute(select(SmsOutbox.kind, SmsOutbox.bulk))).all())
    assert kinds == {"broadcast": True, "reply": False}


async def test_the_claim_reads_the_partial_index_of_queued_rows(client, database):
    # At 100,000 queued broadcast rows and millions sent, the claim must not sort the queue: it walks the
    # index in (bulk, id) order. The plan says so on either database.
    url, _schema = database
    db = client.app[appkeys.DB]
    async with db() as s:
        due = (select(SmsOutbox.id).where(SmsOutbox.status == "queued").order_by(SmsOutbox.bulk, SmsOutbox.id)
               .limit(100))
        sql = str(due.compile(s.bind, compile_kwargs={"literal_binds": True}))
        if url.startswith("sqlite"):
            plan = " ".join(str(r[-1]) for r in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
            assert "ix_sms_outbox_due" in plan and "TEMP B-TREE" not in plan
        else:
            await s.execute(text("SET LOCAL enable_seqscan = off"))     # an empty table: make the planner show it
            plan = " ".join(r[0] for r in (await s.execute(text("EXPLAIN " + sql))).all())
            assert "ix_sms_outbox_due" in plan and "Sort" not in plan
