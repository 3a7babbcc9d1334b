"""SMS webhooks, courier style: inbound keywords and delivery reports as tables of cases."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import SmsInbound, SmsOutbox, User
from tests.helpers import at_form, committed_only, new_session_id
from ussd_app import appkeys

REGISTERED = "+260971700001"
NEWCOMER = "+260961700002"


async def _register(client, msisdn: str = REGISTERED, lang_key: str = "1") -> None:
    sid = new_session_id()
    for text in ["", lang_key, f"{lang_key}*Mapalo", f"{lang_key}*Mapalo*4826", f"{lang_key}*Mapalo*4826*4826"]:
        resp = await client.post("/ussd/africastalking", data=at_form(sid, text, msisdn))
    assert "Mapalo" in await resp.text()


def sms(text: str, sender: str = REGISTERED, provider_id: str = "ATXid_in_1", **extra: str) -> dict[str, str]:
    return {"date": "2026-11-22 10:00:00", "from": sender, "id": provider_id, "text": text,
            "to": "21212", "networkCode": "64501", **extra}


@dataclass
class InboundCase:
    label: str
    posts: list[dict[str, str]]
    status: int = 200
    reply: str | None = None                   # a fragment of the one reply SMS; None: no reply at all
    command: str | None = None                 # what the inbound row records
    user_after: dict = field(default_factory=dict)
    token: str | None = None
    query: dict[str, str] = field(default_factory=dict)


INBOUND = [
    InboundCase("HELP lists the keywords", [sms("HELP")], reply="HELP MORE for more", command="help"),
    InboundCase("keywords are case-insensitive", [sms("  help  ")], reply="HELP MORE for more", command="help"),
    InboundCase("Swahili alias MSAADA is HELP (reply in the user's language)", [sms("msaada")],
                reply="HELP MORE for more", command="help"),
    InboundCase("Nyanja alias THANDIZO", [sms("Thandizo")], reply="HELP MORE for more", command="help"),
    InboundCase("HELP MORE gives the rest of the keywords", [sms("help more")], reply="ALERT price", command="help"),
    InboundCase("HELP ZAIDI: the word MORE in any language", [sms("MSAADA zaidi")], reply="VOTE 12 YES",
                command="help"),
    # issue 16: a keyword with its argument missing or blank answers how to use it (never "the code ." or "#")
    InboundCase("bare JOIN: its usage", [sms("JOIN")], reply="send JOIN and its code, like JOIN K7Q2M",
                command="join"),
    InboundCase("JOIN with blanks: its usage", [sms("  join   ")], reply="send JOIN and its code", command="join"),
    InboundCase("bare Bemba INGILA: its usage", [sms("INGILA")], reply="send JOIN and its code", command="join"),
    InboundCase("bare ASK: its usage", [sms("ASK")], reply="send ASK and your question", command="ask"),
    InboundCase("bare ALERT: its usage", [sms("ALERT")], reply="ALERT", command="alert"),
    InboundCase("bare SELL: how to trade by SMS", [sms("SELL")], reply="*123#", command="sell"),
    InboundCase("bare BUY: how to trade by SMS", [sms("BUY")], reply="*123#", command="buy"),
    InboundCase("bare YES: how to vote", [sms("YES")], reply="To vote send YES or NO", command="yes"),
    InboundCase("bare NO: how to vote", [sms("NO")], reply="To vote send YES or NO", command="no"),
    InboundCase("bare VOTE: how to vote", [sms("VOTE")], reply="To vote send YES or NO", command="vote"),
    InboundCase("VOTE with a number only: how to vote", [sms("VOTE 12")], reply="To vote send YES or NO",
                command="vote"),
    InboundCase("YES with a word for a number: how to vote", [sms("YES please")], reply="To vote send YES or NO",
                command="yes"),
    InboundCase("LANG SW switches language and answers in it", [sms("LANG SW")],
                reply="Lugha imebadilishwa kuwa Kiswahili.", command="lang", user_after={"language": "sw"}),
    InboundCase("Bemba alias ULULIMI with a language name", [sms("ululimi nyanja")],
                reply="Chilankhulo chasinthidwa kukhala Chinyanja.", command="lang", user_after={"language": "nya"}),
    InboundCase("LANG without a code gets the usage line", [sms("LANG")], reply="LANG EN, LANG BEM",
                command="lang", user_after={"language": "en"}),
    InboundCase("LANG with an unknown code gets the usage line", [sms("LANG FR")], reply="LANG EN, LANG BEM",
                command="lang"),
    InboundCase("STOP opts out", [sms("STOP")], reply="no more news SMS", command="stop",
                user_after={"sms_opt_out": True}),
    InboundCase("START opts back in", [sms("STOP", provider_id="a"), sms("START", provider_id="b")],
                reply="News SMS are on again", command="start", user_after={"sms_opt_out": False}),
    InboundCase("unknown keyword", [sms("BALANCE please")], reply="Send HELP for the list", command="unknown"),
    InboundCase("empty text", [sms("")], reply="Send HELP for the list", command="unknown"),
    InboundCase("unicode text", [sms("Habari 😀")], reply="Send HELP for the list", command="unknown"),
    InboundCase("newcomer: HELP works", [sms("HELP", sender=NEWCOMER)], reply="HELP MORE for more", command="help"),
    InboundCase("newcomer: LANG needs an account", [sms("LANG SW", sender=NEWCOMER)], reply="Dial *123# to join",
                command="lang"),
    InboundCase("Tanzanian newcomer is answered in Swahili", [sms("HELP", sender="+255712700003")],
                reply="MSAADA ZAIDI", command="help"),
    InboundCase("duplicate id: stored and answered once", [sms("HELP"), sms("HELP"), sms("HELP")],
                reply="HELP MORE for more", command="help"),
    InboundCase("number without '+'", [sms("HELP", sender="260971700001")], reply="HELP MORE for more", command="help"),
    InboundCase("a country we do not serve: 200, no reply", [sms("HELP", sender="+254711082000")]),
    InboundCase("missing id", [{"from": REGISTERED, "text": "HELP"}], status=400),
    InboundCase("missing from", [{"id": "x", "text": "HELP"}], status=400),
    InboundCase("missing text", [{"id": "x", "from": REGISTERED}], status=400),
    InboundCase("from is not a number", [sms("HELP", sender="MTN")], status=400),
    InboundCase("wrong secret", [sms("HELP")], status=403, token="s3cret", query={"token": "no"}),
    InboundCase("right secret", [sms("HELP")], token="s3cret", query={"token": "s3cret"}, reply="HELP MORE for more",
                command="help"),
]


@pytest.fixture
async def sms_client(aiohttp_client, settings):
    from ussd_app.app import create_app

    async def make(token: str | None = None):
        client = await aiohttp_client(create_app(settings.with_(webhook_token=token)))
        await _register(client) if token is None else None
        return client
    return make


@pytest.mark.parametrize("case", INBOUND, ids=[c.label for c in INBOUND])
async def test_inbound_conformance(case: InboundCase, sms_client):
    client = await sms_client(case.token)
    for form in case.posts:
        resp = await client.post("/sms/africastalking/inbound", data=form, params=case.query)
    body = await resp.text()
    assert resp.status == case.status, body
    async with client.app[appkeys.DB]() as s:
        replies = (await s.scalars(select(SmsOutbox).where(SmsOutbox.kind.like("reply:%")))).all()
        inbound = (await s.scalars(select(SmsInbound))).all()
        user = await s.scalar(select(User).where(User.msisdn == REGISTERED))
    if case.reply is None:
        assert replies == [] and inbound == []
    else:
        assert case.reply in replies[-1].body, replies[-1].body
        assert len(replies) == len({f["id"] for f in case.posts}), "one reply per distinct id"
        assert inbound[-1].command == case.command and inbound[-1].reply_id == replies[-1].id
        assert replies[-1].essential and replies[-1].status == "queued"
        assert replies[-1].segments <= 2 and replies[-1].encoding == "GSM-7"
    for attr, value in case.user_after.items():
        assert getattr(user, attr) == value


async def test_stop_suppresses_news_but_not_receipts(sms_client):
    from enerlectra.domain import outbox

    client = await sms_client()
    await client.post("/sms/africastalking/inbound", data=sms("STOP"))
    async with committed_only(client.app[appkeys.DB]) as s:
        news = await outbox.add(s, REGISTERED, "Price alert: 1.10 ZMW/kWh", "alert")
        receipt = await outbox.add(s, REGISTERED, "You received 10.00 ZMW", "receipt", essential=True)
    assert (news.status, receipt.status) == ("suppressed", "queued")
    assert outbox.to_dispatch([news, receipt]) == [(receipt.id, 1)]


async def test_dedupe_key_queues_a_follow_up_once(client):
    from enerlectra.domain import outbox

    async with committed_only(client.app[appkeys.DB]) as s:
        first = await outbox.add(s, REGISTERED, "Welcome", "welcome", dedupe_key="welcome:1")
        again = await outbox.add(s, REGISTERED, "Welcome", "welcome", dedupe_key="welcome:1")
    assert first is not None and again is None


# -- delivery reports ----------------------------------------------------------------------------

@dataclass
class ReportCase:
    label: str
    reports: list[dict[str, str]]
    status_after: str
    answer: str = "updated"
    http: int = 200
    reason: str | None = None


def report(status: str, reason: str | None = None, message_id: str = "ATXid_sent_1") -> dict[str, str]:
    form = {"id": message_id, "status": status, "phoneNumber": REGISTERED, "networkCode": "64501",
            "retryCount": "0"}
    if reason:
        form["failureReason"] = reason
    return form


REPORTS = [
    ReportCase("Success is delivered", [report("Success")], "delivered"),
    ReportCase("Failed keeps the reason", [report("Failed", "UserIsInactive")], "failed", reason="UserIsInactive"),
    ReportCase("Rejected keeps the reason", [report("Rejected", "InsufficientCredit")], "failed",
               reason="InsufficientCredit"),
    ReportCase("Expired is failed", [report("Expired")], "failed", reason="Expired"),
    ReportCase("Buffered is still on its way", [report("Buffered")], "sent", answer="unchanged"),
    ReportCase("AbsentSubscriber is on its way, with the reason", [report("AbsentSubscriber")], "sent",
               reason="AbsentSubscriber"),
    ReportCase("the misspelt reason NotNetworkSubcriber is kept", [report("Failed", "NotNetworkSubcriber")],
               "failed", reason="NotNetworkSubcriber"),
    ReportCase("a late Sent after Success changes nothing", [report("Success"), report("Sent")], "delivered",
               answer="unchanged"),
    ReportCase("a final state is never undone", [report("Failed", "DeliveryFailure"), report("Success")], "failed",
               answer="unchanged", reason="DeliveryFailure"),
    ReportCase("unknown status string: 200, recorded, state kept", [report("Teleported")], "sent",
               answer="unknown-status"),
    ReportCase("unknown message id: 200", [report("Success", message_id="ATXid_never")], "sent",
               answer="unknown-message"),
    ReportCase("missing status", [{"id": "ATXid_sent_1"}], "sent", http=400, answer="status is required"),
    ReportCase("missing id", [{"status": "Success"}], "sent", http=400, answer="id is required"),
]


@pytest.mark.parametrize("case", REPORTS, ids=[c.label for c in REPORTS])
async def test_delivery_report_conformance(case: ReportCase, client):
    from sqlalchemy import update

    from enerlectra.domain import outbox

    async with committed_only(client.app[appkeys.DB]) as s:
        row = await outbox.add(s, REGISTERED, "Hello", "test", essential=True)
        await s.execute(update(SmsOutbox).where(SmsOutbox.id == row.id)
                        .values(status="sent", gateway_message_id="ATXid_sent_1", gateway="africastalking"))
    for form in case.reports:
        resp = await client.post("/sms/africastalking/delivery", data=form)
    assert resp.status == case.http
    assert case.answer in await resp.text()
    async with client.app[appkeys.DB]() as s:
        row = await s.get(SmsOutbox, row.id)
    assert row.status == case.status_after
    assert row.failure_reason == case.reason
    if case.status_after == "delivered":
        assert row.delivered_at is not None


async def test_delivery_report_behind_the_secret(aiohttp_client, settings):
    from ussd_app.app import create_app

    client = await aiohttp_client(create_app(settings.with_(webhook_token="s3cret")))
    resp = await client.post("/sms/africastalking/delivery", data=report("Success"))
    assert resp.status == 403
    resp = await client.post("/sms/africastalking/delivery", data=report("Success"),
                             headers={"X-Webhook-Token": "s3cret"})
    assert resp.status == 200


async def test_json_body_is_400(client):
    resp = await client.post("/sms/africastalking/inbound", json={"id": "x"})
    assert resp.status == 400
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(SmsInbound)) == 0
