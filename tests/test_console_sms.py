"""The console's SMS page: who sees it, the outbox's filters, paging and CSV (numbers masked), and the admin's
broadcast: a preview that counts recipients without STOP opt-outs, segments and cost, refuses a text over three
segments, and a confirm that queues one row each through the outbox writer, once, audited."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import func, select, update

from enerlectra.db.models import Cluster, Membership, SmsOutbox, User
from enerlectra.domain import outbox
from enerlectra.domain.work import unit_of_work
from tests.console_helpers import operator_client
from tests.console_seeds import add_user, audit_rows
from tests.test_console_access import _cluster
from ussd_app import appkeys

NUMBER = "+260971234567"


async def _login(client, role: str) -> str:
    return await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)


async def _sms(client, msisdn: str, body: str, kind: str, status: str = "queued", cost: str | None = None) -> None:
    async with unit_of_work(client.app[appkeys.DB]) as s:
        row = await outbox.add(s, msisdn, body, kind, essential=True)
        row.status, row.cost = status, cost


async def _outbox_csv(client, query: str = "") -> list[dict]:
    resp = await client.get(f"/console/sms?format=csv&{query}")
    assert resp.status == 200
    return list(csv.DictReader(io.StringIO(await resp.text())))


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
async def test_the_sms_page_by_role(client, role, status):
    await _login(client, role)
    resp = await client.get("/console/sms")
    assert resp.status == status
    if status == 200:
        assert ('id="broadcast"' in await resp.text()) is (role == "admin")


@pytest.mark.parametrize("query, bodies", [
    ("", {"receipt one", "welcome two", "failed three"}),
    ("status=failed", {"failed three"}),
    ("kind=welcome", {"welcome two"}),
    ("number=0971234567", {"receipt one", "failed three"}),
    ("number=%2B255712345678&kind=welcome", {"welcome two"}),
    ("status=delivered", set()),
])
async def test_outbox_filters_and_csv(client, query, bodies):
    await _login(client, "viewer")
    await _sms(client, NUMBER, "receipt one", "receipt", cost="ZMW 0.3000")
    await _sms(client, "+255712345678", "welcome two", "welcome")
    await _sms(client, NUMBER, "failed three", "receipt", status="failed")
    rows = await _outbox_csv(client, query)
    assert {r["text"] for r in rows} == bodies
    assert all(r["number"] in ("'+26097****567", "'+25571****678") for r in rows)   # masked (CSV quotes +)
    assert NUMBER not in await (await client.get(f"/console/sms?{query}")).text()


async def test_the_outbox_is_paged_newest_first(client):
    await _login(client, "support")
    for i in range(52):
        await _sms(client, NUMBER, f"text {i}", "receipt")
    first, second = await _outbox_csv(client), await _outbox_csv(client, "page=2")
    assert [r["text"] for r in first + second] == [f"text {i}" for i in range(51, -1, -1)]


@pytest.mark.parametrize("query", ["status=lost", "kind=%3Cb%3E", "number=hello", "page=-1"])
async def test_a_bad_outbox_filter_is_a_400(client, query):
    await _login(client, "viewer")
    resp = await client.get(f"/console/sms?{query}")
    assert resp.status == 400 and (await resp.text()).count("\n") == 1


async def _members(client) -> dict[str, int]:
    """Kabwata: three active members who take news, one who sent STOP, one who left; a TZ user outside it."""
    people = {"a": await add_user(client.app, "+260971000001"), "b": await add_user(client.app, "+260971000002"),
              "c": await add_user(client.app, "+260971000003", language="bem"),
              "stop": await add_user(client.app, "+260971000004", opt_out=True),
              "left": await add_user(client.app, "+260971000005"),
              "tz": await add_user(client.app, "+255712000006", language="sw")}
    async with client.app[appkeys.DB]() as s, s.begin():
        cluster = Cluster(code="KBW12", name="Kabwata", kind="micro", area="Lusaka", currency="ZMW", target=1,
                          open=True)
        s.add(cluster)
        await s.flush()
        for name in ("a", "b", "c", "stop", "left"):
            s.add(Membership(cluster_id=cluster.id, user_id=people[name].id, role="member",
                             status="left" if name == "left" else "active"))
    return {name: user.id for name, user in people.items()}


TWO_SEGMENTS = "Meeting at the school on Saturday 10:00. " * 4          # 164 GSM-7 characters


@pytest.mark.parametrize("params, recipients, opted_out", [
    ({"audience": "cluster", "cluster": "kbw12"}, 3, 1),
    ({"audience": "segment", "country": "ZM"}, 4, 1),
    ({"audience": "segment", "country": "ZM", "language": "bem"}, 1, 0),
    ({"audience": "segment", "country": "TZ", "language": "sw"}, 1, 0),
    ({"audience": "segment"}, 5, 1),
])
async def test_the_preview_counts_recipients_without_stop(client, params, recipients, opted_out):
    await _login(client, "admin")
    await _members(client)
    resp = await client.get("/console/sms/broadcast", params={**params, "text": TWO_SEGMENTS})
    page = await resp.text()
    assert resp.status == 200
    assert f'id="recipients">{recipients}<' in page and f'id="opted-out">{opted_out}<' in page
    assert 'id="segments">2<' in page


@pytest.mark.parametrize("priced, shown", [(True, "ZMW 1.80"), (False, "unknown")])
async def test_the_preview_estimates_the_cost_from_what_segments_cost(client, priced, shown):
    await _login(client, "admin")
    await _members(client)
    if priced:
        await _sms(client, "+260971999999", "old", "receipt", status="sent", cost="ZMW 0.3000")
    page = await (await client.get("/console/sms/broadcast", params={"audience": "cluster", "cluster": "KBW12",
                                                                     "text": TWO_SEGMENTS})).text()
    assert f'class="cost">{shown}<' in page                      # 3 recipients x 2 segments x 0.30


@pytest.mark.parametrize("params, line", [
    ({"audience": "cluster", "cluster": "KBW12", "text": "x" * 460}, "The text is 4 SMS segments"),
    ({"audience": "cluster", "cluster": "KBW12", "text": "   "}, "Write the text to send."),
    ({"audience": "cluster", "cluster": "NOPE1", "text": "hi"}, "No cluster has code NOPE1."),
    ({"audience": "cluster", "cluster": "", "text": "hi"}, "cluster's code"),
    ({"audience": "segment", "country": "KE", "text": "hi"}, "country is one of"),
    ({"text": "hi"}, "Pick the audience"),
])
async def test_a_bad_broadcast_is_a_400_in_one_line(client, params, line):
    await _login(client, "admin")
    await _members(client)
    resp = await client.get("/console/sms/broadcast", params=params)
    text = await resp.text()
    assert resp.status == 400 and text.count("\n") == 1 and line in text


async def _preview_form(client) -> dict[str, str]:
    page = await (await client.get("/console/sms/broadcast", params={"audience": "cluster", "cluster": "KBW12",
                                                                     "text": TWO_SEGMENTS})).text()
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    form["text"] = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', page, re.S).group(1)
    return form


async def _broadcast_rows(client) -> list[tuple[str, str]]:
    async with client.app[appkeys.DB_READ]() as s:
        return [tuple(r) for r in (await s.execute(select(SmsOutbox.msisdn, SmsOutbox.status)
                                                   .where(SmsOutbox.kind == "broadcast")
                                                   .order_by(SmsOutbox.msisdn))).all()]


async def test_a_confirmed_broadcast_queues_once_per_recipient_audited(client):
    await _login(client, "admin")
    await _members(client)
    form = await _preview_form(client)
    answers = []
    for _ in range(2):
        resp = await client.post("/console/sms/broadcast", data=form, allow_redirects=False)
        assert resp.status == 303
        answers.append(await (await client.get(resp.headers["Location"])).text())
    assert "queued to 3 people" in answers[0] and "nothing queued twice" in answers[1]
    assert await _broadcast_rows(client) == [("+260971000001", "queued"), ("+260971000002", "queued"),
                                             ("+260971000003", "queued")]
    [entry] = await audit_rows(client.app, "sms.broadcast")
    after = json.loads(entry.after)
    assert entry.actor == "admin@example.com" and after["count"] == 3 and after["segments"] == 2
    assert after["text"] == TWO_SEGMENTS.strip()


async def test_a_stop_after_the_preview_is_still_respected(client):
    await _login(client, "admin")
    ids = await _members(client)
    form = await _preview_form(client)
    async with client.app[appkeys.DB]() as s, s.begin():
        await s.execute(update(User).where(User.id == ids["b"]).values(sms_opt_out=True))
    assert (await client.post("/console/sms/broadcast", data=form, allow_redirects=False)).status == 303
    assert [n for n, _ in await _broadcast_rows(client)] == ["+260971000001", "+260971000003"]


@pytest.mark.parametrize("role", ["support", "viewer"])
async def test_only_admins_broadcast(client, role):
    await _login(client, "admin")
    await _members(client)
    form = await _preview_form(client)
    client.session.cookie_jar.clear()
    form["csrf"] = await operator_client(client, role)
    assert (await client.get("/console/sms/broadcast", params={"audience": "cluster", "cluster": "KBW12",
                                                               "text": "hi"})).status == 403
    assert (await client.post("/console/sms/broadcast", data=form, allow_redirects=False)).status == 403
    assert await _broadcast_rows(client) == [] and await audit_rows(client.app, "sms.broadcast") == []


async def test_a_broadcast_without_the_csrf_token_is_refused(client):
    await _login(client, "admin")
    await _members(client)
    form = await _preview_form(client)
    del form["csrf"]
    assert (await client.post("/console/sms/broadcast", data=form, allow_redirects=False)).status == 403
    async with client.app[appkeys.DB_READ]() as s:
        assert await s.scalar(select(func.count()).select_from(SmsOutbox)) == 0
