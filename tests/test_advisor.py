"""The AI advisor end to end: USSD and SMS questions, the real anthropic SDK against the fake Messages API,
answers by SMS through the outbox, the offline bank, retries, apologies, follow-ups and the daily limit."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from enerlectra.db.models import AdvisorQuestion, SmsInbound, SmsOutbox, User
from enerlectra.domain.advisor import usage
from enerlectra.text.gsm7 import is_gsm7, segment
from tests.jobs import run_jobs
from tests.test_sms_webhooks import sms
from tests.test_wallet import Phone, fund, register
from ussd_app import appkeys
from ussd_app.app import create_app

ZM, TZ = "+260971800001", "+255754800002"
NAME = "Mapalo"


@pytest.fixture
async def fake_claude():
    from simulator.fake_claude import FakeClaude, running

    fake = FakeClaude()
    async with running(fake) as url:
        yield fake, url


@pytest.fixture
def claude_settings(settings, fake_claude):
    fake, url = fake_claude
    return settings.with_(anthropic_api_key=fake.api_key, anthropic_base_url=url, advisor_max_retries=2)


@pytest.fixture
async def claude_client(aiohttp_client, claude_settings):
    return await aiohttp_client(create_app(claude_settings))


async def register_tz(client, msisdn: str = TZ, name: str = "Neema") -> Phone:
    phone = Phone(client, msisdn)
    await phone.dial()
    assert name in await phone.press("4", name, "4826", "4826")        # 4: Kiswahili
    return phone


async def answers_to(client, msisdn: str) -> list[SmsOutbox]:
    async with client.app[appkeys.DB]() as s:
        return list((await s.scalars(select(SmsOutbox).where(
            SmsOutbox.msisdn == msisdn, SmsOutbox.kind.like("advisor%")).order_by(SmsOutbox.id))).all())


async def questions_of(client) -> list[AdvisorQuestion]:
    async with client.app[appkeys.DB]() as s:
        return list((await s.scalars(select(AdvisorQuestion).order_by(AdvisorQuestion.id))).all())


async def shift(client, column: str, by: timedelta) -> None:
    """Move a timestamp of every question (in Python: SQLite has no interval arithmetic)."""
    async with client.app[appkeys.DB]() as s, s.begin():
        for q in (await s.scalars(select(AdvisorQuestion))).all():
            await s.execute(update(AdvisorQuestion).where(AdvisorQuestion.id == q.id).values(
                {column: getattr(q, column) + by}))


def assert_sms_answer(body: str) -> None:
    assert is_gsm7(body), body
    assert segment(body).count <= 3, (segment(body).count, body)
    assert "**" not in body and "\n" not in body, body


# -- through the real SDK to the fake Messages API ----------------------------------------------------------

async def test_ussd_question_reaches_claude_with_role_and_facts_but_no_name_or_number(
        claude_client, claude_settings, fake_claude):
    fake, _url = fake_claude
    phone = await register(claude_client, ZM, NAME)
    await fund(claude_client, ZM, "120.50")
    await phone.dial()
    menu = await phone.press("4")
    assert "1 Solar and power" in menu and "5 Help with Enerlectra" in menu
    assert "type your question" in await phone.press("2")
    done = await phone.press("should I sell my spare kWh tonight?")
    assert done.startswith("END ") and "Your answer will arrive by SMS" in done

    await run_jobs(claude_settings)

    [request] = fake.requests
    assert request["headers"]["anthropic-version"]
    assert request["headers"].get("x-api-key") == fake.api_key or \
        request["headers"].get("authorization") == f"Bearer {fake.api_key}"
    body = request["body"]
    assert body["model"] == claude_settings.advisor_model and body["max_tokens"] == claude_settings.advisor_max_tokens
    assert "trading assistant" in body["system"] and "Answer in English" in body["system"]
    assert "K120.50" in body["system"] and "Zambia" in body["system"]
    assert "Energy market (ZMW): best offer none" in body["system"]
    assert "Community cluster: not a member of any." in body["system"]
    assert body["messages"] == [{"role": "user", "content": "should I sell my spare kWh tonight?"}]
    sent = json.dumps(body)
    assert NAME not in sent and "971800001" not in sent and ZM not in sent

    [answer] = await answers_to(claude_client, ZM)
    assert_sms_answer(answer.body)
    assert answer.body.startswith("Good question! Here's what works at night:")   # markdown gone, quote plain
    [q] = await questions_of(claude_client)
    assert (q.status, q.backend, q.topic, q.source) == ("answered", "claude", "trading", "ussd")
    assert q.input_tokens > 100 and q.output_tokens > 50
    assert q.cost_micro_usd == q.input_tokens * 1 + q.output_tokens * 5      # ADVISOR_PRICES 1.00,5.00
    async with claude_client.app[appkeys.DB]() as s:                          # `enerlectra advisor usage`
        [row] = await usage.summary(s, days=1)
    assert row == ("trading", "claude", "answered", 1, q.input_tokens, q.output_tokens,
                   f"{q.cost_micro_usd / 1e6:.4f}")
    assert "cost USD" in usage.table([row])


async def test_swahili_user_is_answered_in_swahili(claude_client, claude_settings, fake_claude):
    fake, _url = fake_claude
    phone = await register_tz(claude_client)
    await phone.dial()
    await phone.press("4", "1")
    assert "Jibu lako litafika kwa SMS" in await phone.press("1")          # a common question, by number
    await run_jobs(claude_settings)
    assert "Answer in Swahili" in fake.requests[0]["body"]["system"]
    assert fake.requests[0]["body"]["messages"][0]["content"] == "Kuhifadhi umeme wa jua usiku?"
    [answer] = await answers_to(claude_client, TZ)
    assert_sms_answer(answer.body)
    assert answer.body.startswith("Swali zuri!") and '"Usiimalize"' in answer.body


@pytest.mark.parametrize("failures, requests, outcome", [
    (["429"], 2, "answered"),
    (["429", "529"], 3, "answered"),
    (["500", "500", "500"], 3, "failed"),       # max_retries=2: three tries, then the apology
    (["529", "529", "529"], 3, "failed"),
])
async def test_retries_then_answer_or_apology(claude_client, claude_settings, fake_claude, failures, requests,
                                              outcome):
    fake, _url = fake_claude
    await register(claude_client, ZM, NAME)
    for mode in failures:
        fake.fail(mode)
    resp = await claude_client.post("/sms/africastalking/inbound", data=sms("ASK how do I store solar power",
                                                                            sender=ZM))
    assert resp.status == 200
    await run_jobs(claude_settings)
    assert len(fake.requests) == requests
    [q] = await questions_of(claude_client)
    [answer] = await answers_to(claude_client, ZM)
    assert q.status == outcome
    if outcome == "failed":
        assert answer.body.startswith("Sorry, the Enerlectra advisor could not answer")
        assert q.error.startswith("HTTP 5") and answer.kind == "advisor-apology"
    else:
        assert_sms_answer(answer.body)


async def test_a_timeout_ends_in_the_apology(aiohttp_client, claude_settings, fake_claude):
    fake, _url = fake_claude
    fake.slow_seconds = 3
    settings = claude_settings.with_(advisor_timeout_seconds=1, advisor_max_retries=0)
    client = await aiohttp_client(create_app(settings))
    await register(client, ZM, NAME)
    fake.fail("slow")
    await client.post("/sms/africastalking/inbound", data=sms("ASK battery at night", sender=ZM))
    await run_jobs(settings)
    [q] = await questions_of(client)
    assert q.status == "failed" and "Timeout" in q.error
    [answer] = await answers_to(client, ZM)
    assert "could not answer" in answer.body


async def test_follow_up_within_ten_minutes_keeps_the_conversation(claude_client, claude_settings, fake_claude):
    fake, _url = fake_claude
    await register(claude_client, ZM, NAME)
    fake.replies = ["Use a deep-cycle battery.", "About 1.2 kWh for a 100 Ah battery."]
    for n, text in enumerate(["ASK what battery for night power", "ASK how much does it hold"]):
        await claude_client.post("/sms/africastalking/inbound", data=sms(text, sender=ZM, provider_id=f"f{n}"))
        await run_jobs(claude_settings)
    second = fake.requests[1]["body"]["messages"]
    assert second == [{"role": "user", "content": "what battery for night power"},
                      {"role": "assistant", "content": "Use a deep-cycle battery."},
                      {"role": "user", "content": "how much does it hold"}]
    questions = await questions_of(claude_client)
    assert questions[1].topic == questions[0].topic == "energy"     # "how much does it hold" stays on topic

    await shift(claude_client, "answered_at", timedelta(minutes=-11))   # that exchange is now 11 minutes old
    await claude_client.post("/sms/africastalking/inbound", data=sms("ASK and at midday?", sender=ZM,
                                                                     provider_id="f3"))
    await run_jobs(claude_settings)
    assert fake.requests[2]["body"]["messages"] == [{"role": "user", "content": "and at midday?"}]


async def test_an_answer_job_run_twice_sends_one_sms(claude_client, claude_settings, fake_claude):
    from workers import runtime
    from workers.advisor import answer_question

    await register(claude_client, ZM, NAME)
    await claude_client.post("/sms/africastalking/inbound", data=sms("ASK solar panel care", sender=ZM))
    await run_jobs(claude_settings)
    [q] = await questions_of(claude_client)
    runtime.configure(claude_settings)
    assert (await asyncio.to_thread(answer_question, q.id)).startswith("nothing to do")
    assert len(await answers_to(claude_client, ZM)) == 1 and len(fake_claude[0].requests) == 1


async def test_lost_enqueue_is_answered_by_the_sweep(claude_client, claude_settings):
    """A question committed while the queue was unreachable: the sweeper finds it and a job answers it."""
    from enerlectra.jobs import ADVISOR, ANSWER_SWEEP_JOB, make_queue

    await register(claude_client, ZM, NAME)
    claude_client.app[appkeys.DISPATCH].queues = None           # the enqueue after commit is lost
    await claude_client.post("/sms/africastalking/inbound", data=sms("ASK solar panel care", sender=ZM))
    await shift(claude_client, "created_at", timedelta(minutes=-2))     # and two minutes have passed
    await run_jobs(claude_settings)
    assert (await questions_of(claude_client))[0].status == "queued"
    queue = make_queue(claude_settings.redis_url, claude_settings.queue_name, ADVISOR)
    queue.enqueue(ANSWER_SWEEP_JOB)
    queue.connection.close()
    await run_jobs(claude_settings)                                # the sweep, then the answer it enqueued
    assert (await questions_of(claude_client))[0].status == "answered"
    assert len(await answers_to(claude_client, ZM)) == 1


# -- SMS ASK and the offline bank ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, sender, reply, stored", [
    ("ASK", ZM, "send ASK and your question", 0),
    ("ask ?", ZM, "send ASK and your question", 0),
    ("ASK how do I store solar power at night", "+260961800009", "Dial *123# to join", 0),
    ("ULIZA nawezaje kuhifadhi umeme usiku", ZM, None, 1),        # the Swahili alias works for anyone
])
async def test_ask_keyword_cases(client, text, sender, reply, stored):
    await register(client, ZM, NAME)
    await client.post("/sms/africastalking/inbound", data=sms(text, sender=sender))
    async with client.app[appkeys.DB]() as s:
        inbound = await s.scalar(select(SmsInbound).where(SmsInbound.provider_id == "ATXid_in_1"))
        replied = await s.get(SmsOutbox, inbound.reply_id) if inbound.reply_id else None
    assert inbound.command == "ask"
    assert (replied.body if replied else None) == reply or reply in replied.body
    assert len(await questions_of(client)) == stored


@pytest.mark.parametrize("lang_key, msisdn, question, expected", [
    ("1", ZM, "ASK how do I store solar power at night", "store it in a battery"),
    ("1", ZM, "ASK is it a good time to sell my surplus", "Sell spare kWh when your battery is full"),
    ("1", ZM, "ASK what is carbon credit", "A carbon credit proves"),
    ("1", ZM, "ASK tell me something", "Use solar power in the day"),        # no keyword: the general answer
    ("4", TZ, "ASK nawezaje kuhifadhi umeme usiku", "uhifadhi kwenye betri"),
    ("4", TZ, "ULIZA nimesahau pin yangu", "Baada ya PIN zisizo sahihi 3"),
])
async def test_offline_bank_answers_in_the_users_language(client, settings, lang_key, msisdn, question, expected):
    assert settings.anthropic_api_key is None                 # the embedded default
    phone = Phone(client, msisdn)
    await phone.dial()
    await phone.press(lang_key, "Neema", "4826", "4826")
    await client.post("/sms/africastalking/inbound", data=sms(question, sender=msisdn))
    await run_jobs(settings)
    [answer] = await answers_to(client, msisdn)
    assert_sms_answer(answer.body)
    assert expected in answer.body
    assert answer.body.endswith("(offline)" if lang_key == "1" else "(bila mtandao)")
    [q] = await questions_of(client)
    assert (q.backend, q.input_tokens, q.status) == ("offline", 0, "answered")


async def test_common_question_by_ussd_gets_its_own_offline_answer(client, settings):
    phone = await register(client, ZM, NAME)
    await phone.dial()
    await phone.press("4", "5")
    assert "END Thank you" in await phone.press("1")          # "I forgot my PIN"
    await run_jobs(settings)
    [answer] = await answers_to(client, ZM)
    assert answer.body.startswith("After 3 wrong PINs")


@pytest.mark.parametrize("typed, shown", [
    ("9", "Type a number from 1 to 5."),
    ("x", "Type a number from 1 to 5."),
])
async def test_bad_topic_says_what_to_type(client, typed, shown):
    phone = await register(client, ZM, NAME)
    await phone.dial()
    await phone.press("4")
    reply = await phone.press(typed)
    assert reply.startswith("CON ") and shown in reply


@pytest.mark.parametrize("typed", ["7", "42", "?!"])
async def test_bad_question_says_what_to_type(client, typed):
    phone = await register(client, ZM, NAME)
    await phone.dial()
    await phone.press("4", "1")
    reply = await phone.press(typed)
    assert reply.startswith("CON ") and "Type 1, 2 or 3, or write your question." in reply
    assert await questions_of(client) == []


# -- the daily limit -----------------------------------------------------------------------------------------

async def test_daily_limit_holds_under_20_concurrent_questions_from_one_number(aiohttp_client, settings):
    limit = 5
    settings = settings.with_(advisor_daily_limit=limit)
    client = await aiohttp_client(create_app(settings))
    await register(client, ZM, NAME)
    posts = [client.post("/sms/africastalking/inbound", data=sms(f"ASK battery question {n}", sender=ZM,
                                                                 provider_id=f"c{n}")) for n in range(20)]
    assert {r.status for r in await asyncio.gather(*posts)} == {200}
    assert len(await questions_of(client)) == limit
    async with client.app[appkeys.DB]() as s:
        refusals = await s.scalar(select(func.count()).select_from(SmsOutbox).where(
            SmsOutbox.msisdn == ZM, SmsOutbox.body.like("You have asked 5 questions today%")))
    assert refusals == 20 - limit
    await run_jobs(settings)
    assert len(await answers_to(client, ZM)) == limit

    phone = Phone(client, ZM)                                  # the menu says so too, before any typing
    await phone.dial()
    reply = await phone.press("4")
    assert reply.startswith("END You have asked 5 questions today")


async def test_a_failed_question_does_not_count(aiohttp_client, claude_settings, fake_claude):
    fake, _url = fake_claude
    settings = claude_settings.with_(advisor_daily_limit=1, advisor_max_retries=0)
    client = await aiohttp_client(create_app(settings))
    await register(client, ZM, NAME)
    fake.fail("529")
    await client.post("/sms/africastalking/inbound", data=sms("ASK battery", sender=ZM, provider_id="a"))
    await run_jobs(settings)
    await client.post("/sms/africastalking/inbound", data=sms("ASK battery again", sender=ZM, provider_id="b"))
    await run_jobs(settings)
    assert [q.status for q in await questions_of(client)] == ["failed", "answered"]


async def test_should_i_sell_now_is_grounded_in_the_market_and_the_users_trades(claude_client, claude_settings,
                                                                                fake_claude):
    from tests.test_market import TRADE, energize, sell

    fake, _url = fake_claude
    seller = await register(claude_client, ZM, NAME)
    buyer = await register(claude_client, "+260971800005", "Chipo")
    await energize(claude_client, ZM, 5_000)
    await fund(claude_client, "+260971800005", "50")
    await sell(seller, "1", "1.20")
    await buyer.dial()
    await buyer.press(TRADE, "2", "0.5", "4826")
    await sell(seller, "2", "1.40")
    await claude_client.post("/sms/africastalking/inbound", data=sms("ASK should I sell now?", sender=ZM))
    await run_jobs(claude_settings)
    system = fake.requests[-1]["body"]["system"]
    assert "Energy market (ZMW): best offer K1.20/kWh, best bid none, last trade K1.20/kWh, 24h volume 0.5 kWh." \
        in system
    assert "The user's recent trades: sold 0.5 kWh at K1.20/kWh." in system
    assert "Open offers: 2, 2.5 kWh in all." in system
    assert "Chipo" not in system and NAME not in system


async def test_the_prompt_knows_the_users_cluster_in_numbers_only(claude_client, claude_settings, fake_claude):
    from enerlectra.domain.clusters import members

    fake, _url = fake_claude
    await register(claude_client, ZM, NAME)
    db = claude_client.app[appkeys.DB]
    async with db() as s, s.begin():
        me = (await s.scalars(select(User).where(User.msisdn == ZM))).one()
        await members.create(s, me, "Mapalo's Own Cluster", "micro", "Chelstone", 2_000_00, True)
    await claude_client.post("/sms/africastalking/inbound", data=sms("ASK should we buy a battery", sender=ZM))
    await run_jobs(claude_settings)
    system = fake.requests[-1]["body"]["system"]
    assert ("Community cluster: a micro cluster of 1 members; pooled fund K0.00; the user is its chair and has "
            "given K0.00 of a K2,000.00 target per member; open proposals: 0.") in system
    assert "Mapalo" not in system and "Chelstone" not in system


# -- price answers quote the live book ------------------------------------------------------------------------

async def book_offer_150_bid_130_last_130(client) -> None:
    """Offers 1.30 and 1.10 bought out, a bid left at 1.30, then an offer at 1.50 above it."""
    from tests.test_market import BUYER, SELLER, SELLER2, TRADE, energize, sell

    phones = {n: await register(client, n, name) for n, name in
              ((SELLER, "Bwalya"), (SELLER2, "Chanda"), (BUYER, "Mutale"))}
    for n in (SELLER, SELLER2):
        await energize(client, n, 10_000)
    await fund(client, BUYER, "100")
    await sell(phones[SELLER], "1", "1.30")
    await sell(phones[SELLER2], "1", "1.10")
    await phones[BUYER].dial()
    await phones[BUYER].press(TRADE, "2", "3", "2")
    assert "Your bid for 1.0 kWh at K1.30/kWh" in await phones[BUYER].press("4826")
    await sell(phones[SELLER], "1", "1.50")


@pytest.mark.parametrize("lang_key, question, quote", [
    ("1", "ASK what is a fair price for 1 kwh", "Market now, per kWh: best offer K1.50, best bid K1.30, "
                                                "last trade K1.30."),
    ("1", "ASK should I sell my spare kwh", "Market now, per kWh: best offer K1.50, best bid K1.30, "
                                            "last trade K1.30."),
    ("2", "ASK mutengo wa maketi lelo", "Maketi nomba, pa kWh: uwacilapo K1.50, ilipusho K1.30, "
                                        "ukulekelesha K1.30."),
    ("3", "ASK mtengo wa magetsi lero", "Msika pano, pa kWh: mtengo wabwino K1.50, pempho labwino K1.30, "
                                        "omaliza K1.30."),
    ("4", "ASK bei ya kwh sokoni", "Soko sasa, kwa kWh: ofa bora K1.50, zabuni bora K1.30, "
                                   "bei ya mwisho K1.30."),
])
async def test_an_offline_price_answer_starts_with_the_live_book(client, settings, lang_key, question, quote):
    await book_offer_150_bid_130_last_130(client)
    phone = Phone(client, ZM)
    await phone.dial()
    await phone.press(lang_key, NAME, "4826", "4826")
    await client.post("/sms/africastalking/inbound", data=sms(question, sender=ZM))
    await run_jobs(settings)
    [answer] = await answers_to(client, ZM)
    assert_sms_answer(answer.body)
    assert answer.body.startswith(quote + " "), answer.body
    [q] = [q for q in await questions_of(client) if q.source == "sms"]
    assert q.topic in ("market", "trading")


async def test_an_empty_book_is_quoted_as_empty_and_carbon_answers_quote_nothing(client, settings):
    await register(client, ZM, NAME)
    await client.post("/sms/africastalking/inbound", data=sms("ASK what is a fair price", sender=ZM))
    await client.post("/sms/africastalking/inbound",
                      data=sms("ASK what is a carbon credit", sender=ZM, provider_id="ATXid_in_2"))
    await run_jobs(settings)
    price, carbon = [a.body for a in await answers_to(client, ZM)]
    assert price.startswith("Market now, per kWh: best offer -, best bid -, last trade -. "), price
    assert carbon.startswith("A carbon credit proves"), carbon


async def test_claude_is_told_to_quote_the_live_book_for_price_questions(claude_client, claude_settings,
                                                                         fake_claude):
    fake, _url = fake_claude
    await register(claude_client, ZM, NAME)
    await claude_client.post("/sms/africastalking/inbound", data=sms("ASK what is the price now", sender=ZM))
    await run_jobs(claude_settings)
    system = fake.requests[-1]["body"]["system"]
    assert system.startswith("You are Enerlectra's market analyst, explaining energy prices")
    assert "quote the live market below (best offer, best bid, last trade" in system
    assert "Energy market (ZMW): best offer none, best bid none, last trade none" in system
