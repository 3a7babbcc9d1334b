"""Attack review of smsprio (a678862): sms_outbox.bulk and the claim in (bulk, id) order.

Concurrent claims never take a row twice (SQLite and PostgreSQL), a row written without `bulk` (server default)
is not a broadcast, a re-dispatched broadcast row (`first=`) still lets the OTP behind it go in the same batch,
and the migration keeps existing rows and marks only queued broadcasts."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, text

from enerlectra.db import migrate
from enerlectra.db.models import SmsOutbox
from enerlectra.domain import outbox
from enerlectra.domain.work import unit_of_work
from ussd_app import appkeys

LEASE = timedelta(seconds=60)


async def claim(db, limit: int, first: int | None = None) -> list[SmsOutbox]:
    async with db() as s, s.begin():
        return await outbox.claim_due(s, LEASE, limit=limit, first=first)


async def queue(db, n: int, kind: str, bulk: bool) -> list[int]:
    async with unit_of_work(db) as s:
        rows = [await outbox.add(s, f"+2609718200{i:02d}", f"{kind} {i}", kind) for i in range(n)]
        for row in rows:
            row.bulk = bulk
    return [row.id for row in rows]


async def test_claims_at_once_never_take_a_row_twice(client):
    db = client.app[appkeys.DB]
    ids = await queue(db, 40, "broadcast", True) + await queue(db, 20, "receipt", False)
    batches = await asyncio.gather(*(claim(db, limit=7) for _ in range(12)))
    taken = [r.id for batch in batches for r in batch]
    assert len(taken) == len(set(taken)) == len(ids)            # 12 x 7 > 60: every row once, none twice
    receipts = set(ids[40:])
    for batch in batches:      # within a batch, every receipt before any broadcast
        kinds = [r.id in receipts for r in batch]
        assert kinds == sorted(kinds, reverse=True)


async def test_a_row_written_without_bulk_is_not_a_broadcast(client):
    # Code paths (and operators' SQL) that insert rows without naming the column: the server default.
    db = client.app[appkeys.DB]
    await queue(db, 3, "broadcast", True)
    async with db() as s, s.begin():
        await s.execute(text("INSERT INTO sms_outbox (msisdn, body, kind, essential, status, encoding, segments, "
                             "attempts, dispatches) VALUES ('+260971820099', 'code 1', 'otp', true, 'queued', "
                             "'GSM-7', 1, 0, 1)"))
    first = await claim(db, limit=1)
    assert [(r.kind, r.bulk) for r in first] == [("otp", False)]


async def test_a_redispatched_broadcast_row_still_takes_the_otp_behind_it(client):
    db = client.app[appkeys.DB]
    broadcast = await queue(db, 5, "broadcast", True)
    otp = await queue(db, 1, "otp", False)
    batch = await claim(db, limit=2, first=broadcast[-1])
    assert [r.id for r in batch][:2] == [otp[0], broadcast[0]] and broadcast[-1] in {r.id for r in batch}


async def test_the_migration_keeps_rows_and_marks_only_broadcasts_still_to_send(client, database):
    url, schema = database
    db = client.app[appkeys.DB]
    await asyncio.to_thread(migrate.downgrade, url, "0017", schema)
    await client.app[appkeys.DB_ENGINE].dispose()          # columns changed under the pool's statements
    async with db() as s, s.begin():
        for kind, status in [("broadcast", "queued"), ("broadcast", "sent"), ("otp", "queued")]:
            await s.execute(text("INSERT INTO sms_outbox (msisdn, body, kind, essential, status, encoding, "
                                 "segments, attempts, dispatches) VALUES ('+260971820098', :body, :kind, false, "
                                 ":status, 'GSM-7', 1, 0, 1)"), {"body": f"{kind} {status}", "kind": kind,
                                                                  "status": status})
    await asyncio.to_thread(migrate.upgrade, url, "head", schema)
    await client.app[appkeys.DB_ENGINE].dispose()
    async with db() as s:
        rows = (await s.execute(select(SmsOutbox.kind, SmsOutbox.status, SmsOutbox.bulk)
                                .order_by(SmsOutbox.id))).all()
    assert [tuple(r) for r in rows] == [("broadcast", "queued", True), ("broadcast", "sent", False),
                                        ("otp", "queued", False)]
    assert [r.kind for r in await claim(db, limit=5)] == ["otp", "broadcast"]
