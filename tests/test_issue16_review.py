"""Found by an independent review of issue 16: a retried session lock, a held member voting a payout, a
ballot number read as a PIN, an unconfigured provider's payment; and edge checks of what holds."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from enerlectra.db.models import Proposal, User
from enerlectra.domain import outbox
from enerlectra.domain.clusters import proposals
from tests.helpers import committed_only
from tests.test_cluster_votes import say_by_sms
from tests.test_clusters import a_cluster, people
from tests.test_edge_bounds import edge  # noqa: F401  (fixture)
from tests.test_payments import airtel, make_pay, mtn, pawapay  # noqa: F401  (fixtures)
from ussd_app import appkeys


async def test_r1_session_lock_acquire_survives_a_retry_with_the_same_token(client):
    store = client.app[appkeys.ENGINE].store
    sid = f"review-{uuid.uuid4().hex}"
    keys = [store._key(sid, "lock"), store._key(sid, "s"), store._key(sid, "r"), store._key(sid, "end")]
    args = ["tok-1", store.lock_timeout_ms, "x"]
    first = await store._acquire(keys=keys, args=args)
    assert first[0] == 1
    # What redis-py's Retry sends when the first EVALSHA ran on the server but its reply timed out
    # (READ_TIMEOUT 2 s): the same script, the same token.
    again = await store._acquire(keys=keys, args=args)
    assert again[0] == 1, "the retried acquire must see the lock as its own, not wait lock_timeout_ms for it"


async def test_r2_a_held_member_cannot_pass_a_pool_payout(client):
    db = client.app[appkeys.DB]
    group = await people(db, 1, first=950)
    cluster = await a_cluster(db, group[0], [])
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.get(User, group[0].id), "spend", title="panels",
                                       amount=100_00, payee="+260971239999")
        (await s.get(User, group[0].id)).pin_reset_hold_until = outbox.now() + timedelta(hours=24)
    reply = await say_by_sms(client)(group[0], f"YES {opened.proposal.number}")
    async with db() as s:
        state = await s.scalar(select(Proposal.state).where(Proposal.id == opened.proposal.id))
    assert state == "open", (state, reply)
    assert "money actions wait until" in str(reply), reply


FORM_PATHS = ["/ussd/africastalking", "/ussd/africastalking/events", "/sms/africastalking/inbound",
              "/sms/africastalking/delivery"]
MULTIPART = [
    b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",       # a part with no name
    b"--b\r\nContent-Disposition: form-data; name=\"sessionId\"\r\n\r\nx",                 # never closed
    b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",                              # no disposition
    b"--b\r\nContent-Disposition: form-data; name=\"text\"; filename=\"a\"\r\n\r\nx\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n"
    b"Content-Type: text/plain; charset=klingon\r\n\r\n"
    b"x\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"!!!\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n"
    b"Content-Encoding: gzip\r\n\r\nnotgzip\r\n--b--\r\n",
    b"garbage without any boundary",
    b"--b\r\n\r\n--b--\r\n",
]
CONTENT_TYPES = ["multipart/form-data; boundary=b", "multipart/form-data", "multipart/form-data; boundary=",
                 "application/x-www-form-urlencoded; charset=klingon",
                 "application/x-www-form-urlencoded; charset=utf-16"]


@pytest.mark.parametrize("path", FORM_PATHS)
async def test_r_check_odd_multipart_and_charsets_never_5xx(client, path, caplog):
    statuses = []
    for ctype in CONTENT_TYPES:
        for body in MULTIPART + [b"sessionId=a&phoneNumber=%2B260971234567&text=%FF%FE", b"a=%00"]:
            resp = await client.post(path, data=body, headers={"Content-Type": ctype})
            statuses.append((ctype, body[:40], resp.status))
    assert all(s < 500 for *_x, s in statuses), [s for s in statuses if s[2] >= 500]
    assert "Traceback" not in caplog.text


ODD_VALUES = [None, [], {}, 0, -1, 1.5, True, "", "x" * 300, "2026-13-45T99:99:99Z", ["a"], {"a": 1},
              10**18, "+260971234567", "SUCCESSFUL", "COMPLETED", "TS", "success"]


def _swaps(data, path=()):
    """Every body that replaces one value (at any depth) of a well-formed body with an odd one."""
    if isinstance(data, dict):
        for key, value in data.items():
            for odd in ODD_VALUES:
                yield path + (key,), odd
            yield from _swaps(value, path + (key,))


def _replaced(data, path, odd):
    import copy
    out = copy.deepcopy(data)
    cur = out
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = odd
    return out


async def test_r_check_every_json_field_of_every_json_webhook_swapped_never_5xx(edge, caplog):
    import json as _json

    from tests.test_edge_bounds import JSON_EPS, base, post
    bad = []
    count = 0
    for ep in JSON_EPS:
        data = base(ep)
        for path, odd in list(_swaps(data)):
            body = _json.dumps(_replaced(data, path, odd)).encode()
            resp = await post(edge, ep, body, "application/json")
            count += 1
            if resp.status >= 500:
                bad.append((ep.name, path, odd, resp.status, (await resp.text())[:100]))
    assert count > 100 and not bad, (count, bad[:20])
    assert "Traceback" not in caplog.text


async def test_r4_a_ballot_reply_with_a_four_digit_number_is_a_vote_not_a_pin_try(client):
    from sqlalchemy import update as sql_update

    from enerlectra.db.models import Vote
    from enerlectra.domain import ledger, wallet
    from enerlectra.domain.phone import parse_msisdn
    from sms.inbound import InboundSms, receive
    from tests.test_pin_reset import sms_to

    db, settings = client.app[appkeys.DB], client.app[appkeys.SETTINGS]
    group = await people(db, 3, first=960)
    cluster = await a_cluster(db, group[0], group[1:])
    async with committed_only(db) as s:
        opened = await proposals.open_(s, cluster, await s.get(User, group[0].id), "target", title="target",
                                       amount=3_000_00)
        # what 0014 leaves on a deployment that had over a thousand proposals: the global id as the number
        (await s.get(Proposal, opened.proposal.id)).number = 1044
        await s.execute(sql_update(User).where(User.id == group[1].id).values(sms_pin_enabled=True))
    voter = group[1]
    await wallet.credit(db, "test:energy:r4", voter, ledger.ENERGY, 5_000, "test")

    async def say(text: str) -> str:
        await receive(db, InboundSms(uuid.uuid4().hex, parse_msisdn(voter.msisdn), text), settings)
        return (await sms_to(client, voter.msisdn))[-1][1]

    assert "Reply YES and your PIN" in await say("SELL 1 1.20")     # a trade waits (10 minutes)
    reply = await say("YES 1044")                                     # the ballot's own instruction
    async with db() as s:
        votes = (await s.scalars(select(Vote).where(Vote.user_id == voter.id))).all()
        failures = await s.scalar(select(User.pin_failures).where(User.id == voter.id))
    assert votes and failures == 0, (reply, failures)


EVENT = {"sessionId": "ATUid_review_evt", "serviceCode": "*123#", "networkCode": "64501",
         "phoneNumber": "+260971234567", "status": "Success", "cost": "ZMW 0.0000",
         "durationInMillis": "5123",
         "hopsCount": "3", "input": "1*2", "lastAppResponse": "END Bye", "errorMessage": ""}


@pytest.mark.parametrize("date", ["2026-11-29 10:00:00", ""])
async def test_r_check_the_end_of_session_notice_as_at_documents_it_is_stored(client, date):
    resp = await client.post("/ussd/africastalking/events", data={**EVENT, "date": date,
                                                                  "sessionId": f"ATUid_{uuid.uuid4().hex}"})
    assert resp.status == 200, await resp.text()


async def test_r6_an_unconfigured_providers_payment_goes_up_for_review_when_too_old(make_pay, airtel,
                                                                                     monkeypatch):
    import asyncio
    from datetime import datetime, timezone

    from enerlectra.jobs import MONEY, RECONCILE_JOB, make_queue
    from tests.jobs import run_jobs
    from tests.test_payments import NUMBERS, payment

    client, _mtn_fake, user = await make_pay("mtn")
    payments = client.app[appkeys.PAYMENTS]
    airtel[0].fail("lose_callback")
    started = await payments.deposit(user, 3000, NUMBERS["airtel"], key=uuid.uuid4().hex)
    await asyncio.sleep(0.1)
    assert (await payment(client, started.reference)).state == "pending"
    # An hour later, the worker still runs without Airtel (the README's split setup, misconfigured).
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    monkeypatch.setattr(outbox, "now", lambda: later)
    job_settings = client.app[appkeys.SETTINGS].with_(payment_check_seconds=0, airtel_base_url=None)
    queue = make_queue(job_settings.redis_url, job_settings.queue_name, MONEY)
    queue.enqueue(RECONCILE_JOB)
    queue.connection.close()
    await run_jobs(job_settings)
    assert (await payment(client, started.reference)).state == "review"
