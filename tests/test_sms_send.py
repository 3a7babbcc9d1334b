"""The send path: outbox row -> rq job -> the real africastalking SDK -> the fake AT server.

A table of what the server answers and what the outbox row says afterwards.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import SmsOutbox
from enerlectra.domain import outbox
from enerlectra.domain.work import Followups, unit_of_work
from enerlectra.jobs import MAX_ATTEMPTS
from tests.helpers import at_form, committed_only, new_session_id
from tests.jobs import run_jobs
from ussd_app import appkeys

TO = "+260971800001"


async def queue_sms(client, *numbers: str, body: str = "Hello from Enerlectra") -> list[int]:
    async with unit_of_work(client.app[appkeys.DB]) as s:       # the send jobs are enqueued after the commit
        rows = [await outbox.add(s, n, body, "test", essential=True) for n in numbers]
    return [r.id for r in rows]


async def rows(client) -> list[SmsOutbox]:
    async with client.app[appkeys.DB]() as s:
        return list((await s.scalars(select(SmsOutbox).order_by(SmsOutbox.id))).all())


@dataclass
class SendCase:
    label: str
    fail: str | None                  # the fake's failure mode for the next request
    status: str                       # the row afterwards
    reason: str | None = None
    status_code: int | None = None
    sent_to_phone: int = 0            # messages the fake accepted
    content_type: str = "application/json"


SENDS = [
    SendCase("accepted: messageId and cost kept", None, "sent", status_code=101, sent_to_phone=1),
    SendCase("Content-Type with charset: the SDK returns text, still understood", None, "sent", status_code=101,
             sent_to_phone=1, content_type="application/json; charset=utf-8"),
    SendCase("InvalidSenderId: failed, not retried", "invalid_sender", "failed", reason="InvalidSenderId",
             status_code=402),
    SendCase("recipient blacklisted: failed", "recipient:406", "failed", reason="UserInBlacklist", status_code=406),
    SendCase("recipient InsufficientBalance: back to the queue", "recipient:405", "queued", status_code=405),
    SendCase("HTTP 500: back to the queue for a retry", "http500", "queued"),
    SendCase("HTTP 401 (bad key): back to the queue for a retry", "http401", "queued"),
]


@pytest.mark.parametrize("case", SENDS, ids=[c.label for c in SENDS])
async def test_send_conformance(case: SendCase, at_client, at_settings, fake_at):
    fake, _url = fake_at
    fake.content_type = case.content_type
    if case.fail:
        fake.fail(case.fail)
    await queue_sms(at_client, TO)
    await run_jobs(at_settings)
    [row] = await rows(at_client)
    status = "sent" if row.status == "delivered" else row.status      # the fake's report may be in already
    assert (status, row.status_code) == (case.status, case.status_code)
    assert row.failure_reason == case.reason
    assert len(fake.inbox(TO)) == case.sent_to_phone
    if case.status == "sent":
        assert row.gateway == "africastalking" and row.gateway_message_id == fake.inbox(TO)[0].id
        assert row.cost == "ZMW 0.3000" and row.sent_at is not None
    if case.status == "queued":
        assert row.attempts == 1 and row.last_error


async def test_5xx_is_retried_then_sent_once(at_client, at_settings, fake_at):
    fake, _url = fake_at
    fake.fail("http500", count=2)
    [outbox_id] = await queue_sms(at_client, TO)
    for _ in range(3):      # the job's own retries are scheduled later; run the same job id again now
        await at_client.app[appkeys.DISPATCH](Followups(sends=[(outbox_id, 1 + _)]))
        await run_jobs(at_settings)
    [row] = await rows(at_client)
    assert row.status in ("sent", "delivered") and row.attempts == 3
    assert len(fake.inbox(TO)) == 1 and fake.requests == 3


async def test_5xx_forever_is_marked_failed_after_the_last_attempt(at_client, at_settings, fake_at):
    fake, _url = fake_at
    fake.fail("http500", count=MAX_ATTEMPTS + 2)
    [outbox_id] = await queue_sms(at_client, TO)
    for n in range(MAX_ATTEMPTS):
        await at_client.app[appkeys.DISPATCH](Followups(sends=[(outbox_id, 2 + n)]))
        await run_jobs(at_settings)
    [row] = await rows(at_client)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS
    assert "africastalking" in row.last_error and fake.inbox(TO) == []


async def test_same_text_to_many_numbers_is_one_request(at_client, at_settings, fake_at):
    fake, _url = fake_at
    numbers = [f"+26097180{n:04d}" for n in range(7)]
    await queue_sms(at_client, *numbers, body="Cluster vote closes at 18:00")
    await queue_sms(at_client, numbers[0], body="A different text")
    await run_jobs(at_settings)
    assert fake.requests == 2
    assert sorted(m.to for m in fake.messages if m.text.startswith("Cluster")) == numbers
    assert {r.status for r in await rows(at_client)} <= {"sent", "delivered"}


async def test_a_number_twice_with_the_same_text_is_two_requests(at_client, at_settings, fake_at):
    fake, _url = fake_at
    await queue_sms(at_client, TO, TO, body="Same words")
    await run_jobs(at_settings)
    assert len(fake.inbox(TO)) == 2 and fake.requests == 2


@pytest.mark.parametrize("fail,status,reason", [(None, "delivered", None),
                                                ("report:Failed", "failed", "UserIsInactive")])
async def test_delivery_report_from_the_fake_is_recorded(at_client, at_settings, fake_at, fail, status, reason):
    fake, _url = fake_at
    if fail:
        fake.fail(fail)
    await queue_sms(at_client, TO)
    await run_jobs(at_settings)
    for _ in range(100):           # the fake reports after its delay
        [row] = await rows(at_client)
        if row.status == status:
            break
        await asyncio.sleep(0.02)
    assert (row.status, row.failure_reason) == (status, reason)
    assert (row.delivered_at is not None) == (status == "delivered")


async def test_registration_sends_the_welcome_sms_in_the_chosen_language(at_client, at_settings, fake_at):
    fake, _url = fake_at
    sid, msisdn = new_session_id(), "+260971800099"
    for text in ["", "4", "4*Tumaini", "4*Tumaini*4826", "4*Tumaini*4826*4826", "4*Tumaini*4826*4826*1"]:
        await at_client.post("/ussd/africastalking", data=at_form(sid, text, msisdn))
    await run_jobs(at_settings)
    [message] = fake.inbox(msisdn)
    assert message.text.startswith("Karibu Enerlectra, Tumaini!")
    async with at_client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(SmsOutbox)) == 1


async def test_sweeper_sends_a_row_whose_enqueue_was_lost(at_client, at_settings, fake_at):
    from sqlalchemy import update

    from enerlectra.jobs import SMS, SWEEP_JOB, make_queue

    fake, _url = fake_at
    async with committed_only(at_client.app[appkeys.DB]) as s:        # committed, never enqueued
        row = await outbox.add(s, TO, "Lost and found", "test", essential=True)
        await s.execute(update(SmsOutbox).values(updated_at=outbox.now().replace(year=2025)))
    queue = make_queue(at_settings.redis_url, at_settings.queue_name, SMS)
    queue.enqueue(SWEEP_JOB)
    await run_jobs(at_settings)          # the sweep enqueues the send; the same burst runs it
    await run_jobs(at_settings)
    assert [m.text for m in fake.inbox(TO)] == ["Lost and found"]
    [after] = await rows(at_client)
    assert after.status in ("sent", "delivered") and after.dispatches == 2 and after.id == row.id
    queue.connection.close()


async def test_the_sweeper_wakes_one_drain_for_a_waiting_broadcast_not_a_job_per_row(at_client, at_settings,
                                                                                     fake_at):
    from sqlalchemy import update

    from enerlectra.jobs import SMS, SWEEP_JOB, make_queue

    fake, _url = fake_at
    async with committed_only(at_client.app[appkeys.DB]) as s:        # a broadcast waiting, never enqueued
        for n in range(30):
            await outbox.add(s, f"+2609718300{n:02d}", "Meeting on Friday", "broadcast")
        await s.execute(update(SmsOutbox).values(bulk=True, updated_at=outbox.now().replace(year=2025)))
    queue = make_queue(at_settings.redis_url, at_settings.queue_name, SMS)
    queue.enqueue(SWEEP_JOB)
    await run_jobs(at_settings)          # the sweep wakes a drain; the same burst runs it
    await run_jobs(at_settings)
    assert len([m for m in fake.messages if m.text == "Meeting on Friday"]) == 30
    assert {(r.status in ("sent", "delivered"), r.dispatches) for r in await rows(at_client)} == {(True, 1)}
    queue.connection.close()


async def test_operator_sees_each_message_with_id_cost_segments_and_reason(at_client, at_settings, fake_at):
    from sms.report import outbox_rows, table

    fake, _url = fake_at
    fake.fail("recipient:406")
    await queue_sms(at_client, "+260971800077", body="Blocked number test")
    await run_jobs(at_settings)          # alone: requests of one batch go side by side, the failure takes the next
    await queue_sms(at_client, TO, body="x" * 200)                 # two GSM-7 segments
    await run_jobs(at_settings)
    rows = await outbox_rows(at_client.app[appkeys.DB])
    by_to = {r[1]: r for r in rows}
    assert by_to[TO][3] in ("sent", "delivered") and by_to[TO][4:6] == ("GSM-7", "2")
    assert by_to[TO][7].startswith("ATXid_") and by_to[TO][8] == "ZMW 0.3000"
    assert by_to["+260971800077"][3] == "failed" and by_to["+260971800077"][9] == "UserInBlacklist"
    printed = table(rows)
    assert printed.splitlines()[0].split()[:4] == ["id", "to", "kind", "status"] and "UserInBlacklist" in printed
