"""A second round of attacks, from an independent review of issue 14's first fixes: each test was red then.
Docstrings say what the attack did; the asserts say what holds now.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from enerlectra.db.models import (Account, JournalEntry, LedgerHead, MarketOrder, Meter, MeterReading,
                                  Posting, Proposal, SmsInbound, User)
from enerlectra.domain import ledger, ledger_anchors, meters, wallet
from enerlectra.domain.clusters import members as clubs
from tests.helpers import committed_only
from tests.jobs import run_jobs
from tests.test_money_integrity import USER, books_ok, dial_home, forget_sessions  # noqa: F401
from tests.test_payments import airtel, make_pay, mtn, pawapay, pay  # noqa: F401  fixtures
from tests.test_sms_webhooks import sms
from tests.test_wallet import Phone, register
from ussd_app import appkeys
from ussd_app.app import create_app

SENDER = "+260971900021"
SELLER2 = "+260961900022"


# -- 1. a PIN stored in the clear: the SMS flood path skips the masking -----------------------------------

async def test_a_yes_pin_sent_past_the_reply_budget_is_stored_masked(aiohttp_client, settings):
    """sms/flood.py keeps the message with `text=sms.text`; sms/inbound.py masks it with stored_text()."""
    client = await aiohttp_client(create_app(settings.with_(rate_sms_replies_per_msisdn=1)))
    await register(client, SENDER, "Bupe", pin="3971")
    for n, text in enumerate(["HELP", "YES 3971", "YES 3971"]):          # 2nd: the notice; 3rd: silence
        await client.post("/sms/africastalking/inbound", data=sms(text, sender=SENDER, provider_id=f"fl{n}"))
    async with client.app[appkeys.DB]() as s:
        stored = (await s.scalars(select(SmsInbound.text).where(SmsInbound.msisdn == SENDER)
                                  .order_by(SmsInbound.id))).all()
    assert len(stored) == 3
    assert not any("3971" in t for t in stored), stored


# -- 2. a payout proposal opened twice: a retransmitted hop after Redis lost the session --------------------

PAYEE = "0961234567"


async def _member_with_a_pool(client, user: User, pool: int) -> None:
    db = client.app[appkeys.DB]
    await wallet.credit(db, "fund-pool", user, "ZMW", pool, "test")
    async with committed_only(db) as s:
        me = await s.merge(user)
        await clubs.create(s, me, "Kabwata Solar", "micro", "Kabwata", 10_000, True)
        await clubs.contribute(s, "seed-pool", me, pool)


async def test_a_payout_proposal_hop_retransmitted_after_redis_lost_the_session_opens_one_proposal(pay):
    """popened (menus/clusters/screens.py) is not keyed by ctx.hop_key: the shortcut walk that the engine uses
    after Redis lost a session opens the proposal again; a second vote then pays the supplier twice."""
    client, _fake, user = pay
    await _member_with_a_pool(client, user, 50_000)
    phone = Phone(client, USER)
    await phone.dial()
    reply = await phone.press("6", "4", "1", "2 batteries", PAYEE, "100", "1", "4826")
    assert "is open" in reply, reply
    await forget_sessions(client)
    again = await phone._post()                      # the aggregator sends the very same hop again
    async with client.app[appkeys.DB]() as s:
        opened = await s.scalar(select(func.count()).select_from(Proposal))
    assert opened == 1, f"{opened} proposals to pay K100 to {PAYEE}; the retransmission said {again!r}"


# -- 3. meters: the per-hour cap counts at least a minute per reading ---------------------------------------

async def test_readings_a_microsecond_apart_are_held_to_the_hourly_rate(client):
    """judge() floors the time since the last reading at 60 s: readings 1 us apart each earn a minute's worth
    (per_hour / 60 Wh), so the hourly cap is reached in microseconds of meter time."""
    await register(client, SENDER, "Bupe")
    db = client.app[appkeys.DB]
    limits = meters.Limits(per_hour=20_000, per_reading=50_000, per_day=100_000, max_age=timedelta(hours=48))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    base = now - timedelta(seconds=1)
    async with committed_only(db) as s:
        user = await s.scalar(select(User).where(User.msisdn == SENDER))
        await meters.register(s, user, "MTR-REVIEW-1", "SECRET-123456", 0, 0, now=base)
    credited, export = 0, 0
    for n in range(1, 31):                           # 30 readings, 30 us of meter time
        export += 333
        async with committed_only(db) as s:
            out = await meters.record(s, meters.Reading("MTR-REVIEW-1", export, 0, base + timedelta(microseconds=n)),
                                      "SECRET-123456", limits, now=now)
        credited += out.credited_wh
    allowed = 20_000 * 30e-6 / 3600                  # what 20 kWh per hour allows in 30 us: 0.0002 Wh
    assert credited <= 1, f"{credited} Wh credited for 30 us of meter time (the rate allows {allowed:.4f} Wh)"


# -- 4. ledger verify without an anchor: the newest entries can be removed --------------------------------

def _worker_anchors(settings) -> str:
    """The worker's periodic anchor job, run as the worker runs it."""
    from workers import ledger as ledger_jobs
    from workers import runtime

    runtime.configure(settings)
    return ledger_jobs.anchor_ledger()


async def test_ledger_verify_notices_the_newest_entry_removed(client, settings):
    """The head row is not sealed: remove the newest entry and its postings, point the head at the entry
    before and put the balances back. The worker's anchor, written outside the database, catches it."""
    await register(client, SENDER, "Bupe")
    db = client.app[appkeys.DB]
    user = await wallet.find_user(db, SENDER)
    await wallet.credit(db, "c1", user, "ZMW", 10_000, "test")
    await wallet.credit(db, "c2", user, "ZMW", 5_000, "test")
    assert (await asyncio.to_thread(_worker_anchors, settings)).startswith("ledger-anchor")
    async with committed_only(db) as s:                 # the attacker: write access to the tables, not the key
        last = await s.scalar(select(JournalEntry).order_by(JournalEntry.seq.desc()).limit(1))
        before = await s.scalar(select(JournalEntry).where(JournalEntry.seq == last.seq - 1))
        for p in (await s.scalars(select(Posting).where(Posting.entry_id == last.id))).all():
            await s.execute(update(Account).where(Account.id == p.account_id)
                            .values(balance=Account.balance - p.amount))
        await s.execute(delete(Posting).where(Posting.entry_id == last.id))
        await s.execute(delete(JournalEntry).where(JournalEntry.id == last.id))
        await s.execute(update(LedgerHead).where(LedgerHead.id == 1)
                        .values(seq=before.seq, last_entry_id=before.id, last_mac=before.mac))
    async with db() as s:
        problems = await ledger.verify(s, anchor=ledger_anchors.latest(settings.home))
    assert problems, "the newest entry (K50.00 credited) was removed and verify says ok"


# -- 5. the ledger key: generated per host even in front of a shared production database ---------------------

def test_no_ledger_key_is_made_up_for_an_external_database(tmp_path):
    """ledger_key.load() generates HOME/ledger.key whenever LEDGER_KEY is unset, embedded or not: two web boxes
    on one PostgreSQL seal with two different keys (and verify on either reports the other's entries)."""
    from enerlectra.domain import ledger_key
    from enerlectra.settings import Settings

    url = "postgresql+asyncpg://enerlectra@db.internal/enerlectra"
    keys = []
    for box in ("web1", "web2"):
        try:
            keys.append(ledger_key.load(Settings(home=Path(tmp_path) / box, database_url=url)))
        except (ledger_key.BadKey, SystemExit):
            keys.append(None)
    assert keys == [None, None], "a key made up per host for a shared database"


# -- 6. PINs recoverable from Redis: the replay cache and the session's mark hash the text unkeyed -----------

async def test_the_pin_cannot_be_recovered_from_what_redis_keeps(client):
    """store._text_field and core.consumed_mark are plain SHA-256 of the AT text, PIN included. The rest of
    the path (menu keys, the number, the amount) is in the session data beside them, so 10,000 hashes give
    the PIN back to whoever reads Redis (a dump, a replica, a MONITOR)."""
    import hashlib

    from tests.test_wallet import fund

    await register(client, SELLER2, "Chipo")
    sender = await register(client, SENDER, "Bupe", pin="3971")
    await fund(client, SENDER, "2000")
    await sender.dial()
    assert "Sent" in await sender.press("1", "2", "0961900022", "15", "3971")
    store = client.app[appkeys.ENGINE].store
    fields = set()
    for key in [k async for k in store.redis.scan_iter(match=f"{store.prefix}*")]:
        if await store.redis.type(key) == b"hash":
            fields |= {f.decode() for f in await store.redis.hkeys(key)}
    prefix = "1*2*0961900022*15*"                    # what the screens before the PIN showed, or data kept
    found = [pin for pin in (f"{n:04d}" for n in range(10_000))
             if hashlib.sha256((prefix + pin).encode()).hexdigest()[:32] in fields]
    assert found == [], f"PIN {found} recovered from the replay cache's field names"


# -- 7. bad input: a NUL character is a 500 with a traceback on PostgreSQL --------------------------------

NUL_POSTS = [
    ("sms inbound", "/sms/africastalking/inbound",
     {"date": "", "from": "+260971900021", "id": "nul-1", "text": "HELP\x00", "to": "21212"}),
    ("ussd events", "/ussd/africastalking/events",
     {"sessionId": "nul-2", "phoneNumber": "+260971900021", "status": "Success", "input": "1\x00", "date": ""}),
    ("sms delivery", "/sms/africastalking/delivery", {"id": "nul\x003", "status": "Success"}),
    ("meter reading (no secret needed)", "/meters/readings",
     b'{"meter": "A\\u0000B", "export_wh": 1, "import_wh": 1, "timestamp": "2026-11-22T10:00:00Z"}'),
]


@pytest.mark.parametrize("label,path,body", NUL_POSTS, ids=[p[0] for p in NUL_POSTS])
async def test_a_nul_character_in_a_webhook_is_a_4xx_not_a_500(client, label, path, body):
    """PostgreSQL text columns refuse U+0000 (asyncpg CharacterNotInRepertoireError); SQLite stores it, so the
    suite (SQLite by default) never sees it. AT retries an SMS webhook on anything but 2xx, forever."""
    resp = await client.post(path, data=body)
    assert resp.status < 500, f"{label}: {resp.status} {await resp.text()!r}"


# -- 8. the per-address webhook budget is spent by requests without the token --------------------------------

async def test_requests_without_the_token_do_not_spend_the_aggregators_budget(aiohttp_client, settings):
    """The webhook limit (a middleware) counts a request before check_token refuses it. Behind a proxy (no
    TRUSTED_PROXIES, the default) every caller shares the proxy's address: anyone who reaches the port spends
    the budget with 403s, and Africa's Talking's real hops get 429 (every user's session fails)."""
    from tests.helpers import at_form, new_session_id

    client = await aiohttp_client(create_app(settings.with_(webhook_token="s3cret-token", rate_webhook_per_ip=5)))
    for _ in range(5):
        forged = await client.post("/ussd/africastalking?token=guess", data=at_form(new_session_id()))
        assert forged.status == 403
    real = await client.post("/ussd/africastalking", data=at_form(new_session_id()),
                             headers={"X-Webhook-Token": "s3cret-token"})
    assert real.status == 200, f"the aggregator's hop got {real.status} after 5 forged requests"


# -- 9. one SMS, retransmitted at once by the aggregator, spends one PIN try per copy -----------------------

async def test_copies_of_one_yes_sms_spend_one_pin_try(client):
    """sms.inbound._check_pin skips a provider id already stored, but copies arriving together all pass that
    check before any is stored: each reserves a try. One mistyped `YES` retried 3 times at once locks money
    actions (and sends the lock SMS) although the user typed one wrong PIN."""
    import asyncio

    from tests.test_market import energize, sms_pin_on

    seller = await register(client, SENDER, "Bupe")
    await energize(client, SENDER, 5000)
    await sms_pin_on(seller)
    await client.post("/sms/africastalking/inbound", data=sms("SELL 5 1.00", sender=SENDER, provider_id="sell-1"))
    copies = [client.post("/sms/africastalking/inbound", data=sms("YES 1111", sender=SENDER, provider_id="yes-1"))
              for _ in range(3)]
    await asyncio.gather(*copies)
    async with client.app[appkeys.DB]() as s:
        failures, locked = (await s.execute(select(User.pin_failures, User.pin_locked_until)
                                            .where(User.msisdn == SENDER))).one()
    assert (failures, locked) == (1, None), f"one wrong PIN typed: {failures} failures counted, locked {locked}"


# -- 10. a pool payout needs no PIN and ignores the PIN lock and the daily limit ---------------------------

async def test_a_locked_account_cannot_pay_out_its_clusters_pool(pay):
    """Propose (menus/clusters popened) and vote (voted) run no money_pin and no money_locked: in a one-member
    cluster the vote passes at once and Payments.pay_from pays the payee (no daily limit either). After three
    wrong PINs, or with no PIN at all (a stolen phone), the pool goes to any number."""
    client, _fake, user = pay
    await _member_with_a_pool(client, user, 50_000)
    async with committed_only(client.app[appkeys.DB]) as s:          # three wrong PINs: money actions locked
        await s.execute(update(User).where(User.id == user.id)
                        .values(pin_failures=3, pin_locked_until=datetime.now(timezone.utc) + timedelta(hours=1)))
    phone = Phone(client, USER)
    await phone.dial()
    assert "Money actions are locked until" in await phone.press("6", "4", "1", "2 batteries", PAYEE, "500", "1")
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Proposal)) == 0


async def test_a_pool_payout_needs_the_pin_and_counts_against_the_proposers_day(pay):
    client, fake, user = pay
    await _member_with_a_pool(client, user, 50_000)
    phone = Phone(client, USER)
    await dial_home(phone)
    assert "Wrong PIN. 2 tries left." in await phone.press("6", "4", "1", "2 batteries", PAYEE, "50", "1", "1111")
    assert "is open" in await phone.press("4826")
    await wallet.credit(client.app[appkeys.DB], "fund-day", user, "ZMW", 2_100_000, "test")
    for n in range(4):                                           # the proposer withdraws the day's K20,000
        await client.app[appkeys.PAYMENTS].withdraw(user, 500_000, key=f"day-{n}")
    await dial_home(phone)
    await phone.press("6", "3", "1", "1")                          # the only member votes yes: it passes
    await run_jobs(client.app[appkeys.SETTINGS])
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(Proposal.state)) == "execution_failed", "K50 more than the proposer's day"
    await books_ok(client)


async def test_a_nul_character_in_a_payment_callback_reference_is_a_4xx_not_a_500(pay):
    """The reference goes to SQL (Payment.reference = ...) unchecked; a provider retries a 5xx callback."""
    client, _fake, _user = pay
    resp = await client.post("/payments/mtn/callback", data=b'{"externalId": "a\\u0000", "status": "SUCCESSFUL"}',
                             headers={"Content-Type": "application/json"})
    assert resp.status < 500, f"{resp.status} {await resp.text()!r}"


async def test_yes_after_the_market_rules_changed_says_the_rules_and_lists_nothing(aiohttp_client, settings):
    from tests.test_market import energize, sms_pin_on, sms_to

    before = await aiohttp_client(create_app(settings))
    seller = await register(before, SENDER, "Bupe")
    await energize(before, SENDER, 5000)
    await sms_pin_on(seller)
    await before.post("/sms/africastalking/inbound", data=sms("SELL 5 1.00", sender=SENDER, provider_id="r1"))
    after = await aiohttp_client(create_app(settings.with_(market_price_limits="ZMW=200..5000")))  # K2.00 least
    resp = await after.post("/sms/africastalking/inbound", data=sms("YES 4826", sender=SENDER, provider_id="r2"))
    assert resp.status == 200
    assert "K2.00" in (await sms_to(after, SENDER))[-1]
    async with after.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(MarketOrder)) == 0
    await books_ok(after)


@pytest.mark.parametrize("field,value", [
    ("webhook_token", "tok-3971-secret"), ("ledger_key", "k" * 40), ("mtn_api_key", "mtn-key-3971"),
    ("pawapay_token", "pawa-3971"), ("anthropic_api_key", "sk-ant-3971"),
    ("database_url", "postgresql+asyncpg://enerlectra:pw-3971@db/enerlectra"),
    ("redis_url", "redis://:pw-3971@cache:6379/0"),
])
def test_printing_the_settings_shows_no_secret(field, value):
    from enerlectra.settings import Settings

    shown = repr(Settings(**{field: value}))
    assert "3971" not in shown and "k" * 40 not in shown, shown
    assert f"{field}=" in shown
