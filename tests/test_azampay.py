"""AzamPay checkout (Tanzanian deposits) against the fake AzamPay: the wire format as tables, then what a
user ends up with for every outcome. AzamPay has no status query, so a callback counts only when its RSA
signature verifies; anything else goes up for an operator's review, and money is never guessed."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from sqlalchemy import func, select

from enerlectra.db.models import JournalEntry, Payment
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.ports import free_port
from payments.providers import azampay
from payments.providers.azampay import AzamPay, expires_in
from payments.providers.base import (AMBIGUOUS, FAILED, PENDING, SUCCEEDED, BadCallback, ForgedCallback,
                                     Order, ProviderError)
from payments.sandboxes.azampay import FakeAzamPay, running
from payments.service import NotUnderReview
from tests.test_payments import books_ok, money, payment, sms_to
from ussd_app import appkeys
from ussd_app.app import create_app

USER = "+255754600001"            # Vodacom: M-Pesa


@pytest.fixture
async def azam():
    fake = FakeAzamPay(decide_after=0.02)
    async with running(fake) as url:
        yield fake, url


def _client(http, fake: FakeAzamPay, url: str, **kw) -> AzamPay:
    return AzamPay(http, url, url, fake.app_name, fake.client_id, kw.pop("secret", fake.client_secret), **kw)


def _order(msisdn: str = USER, network: str = "vodacom", amount: int = 150000, direction: str = "collection"):
    return Order(str(uuid.uuid4()), direction, msisdn, "TZS", amount, network=network)


# -- the wire format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("msisdn,network,operator", [
    ("+255754600001", "vodacom", "Mpesa"), ("+255712600001", "yas", "Tigo"),
    ("+255622600001", "halotel", "Halopesa"), ("+255682600001", "airtel", "Airtel"),
])
async def test_checkout_request_shape_per_network(azam, msisdn, network, operator):
    fake, url = azam
    fake.auto = False
    async with aiohttp.ClientSession() as http:
        order = _order(msisdn, network)
        status = await _client(http, fake, url).submit(order)
    assert status.status == PENDING and status.provider_txn_id == fake.txns[order.reference].transaction_id
    assert fake.txns[order.reference].body == {
        "accountNumber": msisdn.lstrip("+"), "amount": "1500", "currency": "TZS", "externalId": order.reference,
        "provider": operator, "additionalProperties": {}}


@pytest.mark.parametrize("order,reason", [
    (_order(amount=150050), "INVALID_AMOUNT"),                        # whole shillings only, nothing sent
    (_order(direction="payout"), "NOT_OFFERED"),                      # payouts go through pawaPay
    (_order("+255732600001", "ttcl"), "UNSUPPORTED_NUMBER"),
])
async def test_what_is_refused_before_anything_is_sent(azam, order, reason):
    fake, url = azam
    async with aiohttp.ClientSession() as http:
        status = await _client(http, fake, url).submit(order)
    assert (status.status, status.reason) == (FAILED, reason)
    assert fake.txns == {} and fake.token_requests == 0


async def test_token_is_cached_and_refreshed_once_on_401(azam):
    fake, url = azam
    fake.auto = False
    async with aiohttp.ClientSession() as http:
        client = _client(http, fake, url)
        assert (await client.submit(_order())).status == PENDING
        assert (await client.submit(_order())).status == PENDING
        assert fake.token_requests == 1
        fake.tokens.clear()                                           # revoked
        assert (await client.submit(_order())).status == PENDING
        assert fake.token_requests == 2


async def test_wrong_credentials_are_a_423_and_nothing_is_sent(azam):
    fake, url = azam
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ProviderError, match="423"):
            await _client(http, fake, url, secret="wrong").submit(_order())
    assert fake.txns == {}


@pytest.mark.parametrize("mode,expected", [("http500", AMBIGUOUS), ("http500_after", AMBIGUOUS)])
async def test_5xx_is_ambiguous_never_failed(azam, mode, expected):
    fake, url = azam
    fake.auto = False
    fake.fail(mode)
    order = _order()
    async with aiohttp.ClientSession() as http:
        assert (await _client(http, fake, url).submit(order)).status == expected
    assert (order.reference in fake.txns) == (mode == "http500_after")


async def test_a_400_is_a_failure(azam):
    fake, url = azam
    async with aiohttp.ClientSession() as http:
        order = Order(str(uuid.uuid4()), "collection", USER, "KES", 150000, network="vodacom")
        status = await _client(http, fake, url).submit(order)
    assert (status.status, status.reason) == (FAILED, "HTTP 400")


@pytest.mark.parametrize("raw,seconds", [
    ("2026-11-22T13:00:00+00:00", 3600), ("2026-11-22T13:00:00Z", 3600), ("2026-11-22T13:00:00", 3600),
    (1800, 1800), ("2026-11-22T11:00:00+00:00", 0), ("tomorrow", 300), ({"at": 1}, 300), (None, 300),
])
def test_token_lifetime_from_expire(raw, seconds):
    now = datetime(2026, 11, 22, 12, tzinfo=timezone.utc).timestamp()
    assert expires_in(raw, now=now) == pytest.approx(seconds)


@pytest.mark.parametrize("status,claimed", [("success", SUCCEEDED), ("Success", SUCCEEDED), ("failure", FAILED),
                                            ("failed", FAILED), ("pending", AMBIGUOUS), ("", AMBIGUOUS)])
async def test_callback_status_mapping_and_signature(azam, status, claimed):
    fake, url = azam
    body = {"utilityref": "abc", "externalreference": "abc", "transactionstatus": status, "operator": "Mpesa",
            "amount": "1500", "reference": "AZ1", "message": "words"}
    body["signature"] = fake.sign(body)
    async with aiohttp.ClientSession() as http:
        got = await _client(http, fake, url).parse_callback(json.dumps(body).encode(), {})
    assert (got.reference, got.claimed, got.verified, got.amount) == ("abc", claimed, True, 150000)
    assert got.reason is None, "'words' name no reason"


@pytest.mark.parametrize("message,reason", [
    ("Insufficient balance", "NOT_ENOUGH_FUNDS"), ("Transaction declined by user", "APPROVAL_REJECTED"),
    ("Request cancelled", "APPROVAL_REJECTED"), ("Transaction timed out", "EXPIRED"), ("TIMEOUT", "EXPIRED"),
    ("Transaction failed", None), ("", None), (None, None),
])
def test_plain_reasons_from_the_networks_words(message, reason):
    assert azampay.reason_from_message(message) == reason


async def test_a_callback_signed_with_another_key_is_forged(azam):
    fake, url = azam
    other = FakeAzamPay()
    body = {"utilityref": "abc", "transactionstatus": "success", "operator": "Mpesa"}
    body["signature"] = other.sign(body)
    tampered = {**body, "signature": fake.sign(body), "transactionstatus": "failure"}
    async with aiohttp.ClientSession() as http:
        client = _client(http, fake, url)
        for bad in (body, tampered, {**body, "signature": "not base64!"}):
            with pytest.raises(ForgedCallback):
                await client.parse_callback(json.dumps(bad).encode(), {})


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"transactionstatus": "success"}'])
async def test_unreadable_callbacks(azam, raw):
    fake, url = azam
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BadCallback):
            await _client(http, fake, url).parse_callback(raw, {})


async def test_public_key_configured_or_fetched_once(azam):
    fake, url = azam
    body = {"utilityref": "abc", "transactionstatus": "success", "operator": "Mpesa"}
    body["signature"] = fake.sign(body)
    signed, unsigned = json.dumps(body).encode(), json.dumps({**body, "signature": None}).encode()
    async with aiohttp.ClientSession() as http:
        configured = _client(http, fake, url, public_key_pem=fake.public_pem)
        assert (await configured.parse_callback(signed, {})).verified
        assert not (await configured.parse_callback(unsigned, {})).verified
        assert fake.key_requests == 0, "a configured key needs no request"
        fetching = _client(http, fake, url)
        fake.fail("no_key")                                     # AzamPay's key endpoint down: cannot check
        assert not (await fetching.parse_callback(signed, {})).verified
        assert (await fetching.parse_callback(signed, {})).verified
        assert (await fetching.parse_callback(signed, {})).verified
        assert fake.key_requests == 2, "fetched again after the failure, then kept"


@pytest.mark.parametrize("text,found", [
    ("-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n", True),
    ('{"data": {"publicKey": "-----BEGIN PUBLIC KEY-----\\nAAA\\n-----END PUBLIC KEY-----"}}', True),
    ('{"data": null, "message": "no"}', False), ("<html>", False),
])
def test_the_public_key_answer_as_pem_or_json(text, found):
    assert (azampay._pem_in(text) is not None) == found


# -- what the user ends up with ----------------------------------------------------------------------

@pytest.fixture
def make_azam(aiohttp_client, settings, azam):
    async def make(number: str = USER, fee: int = 0):
        fake, url = azam
        port = free_port()
        fake.callback_url = f"http://127.0.0.1:{port}/payments/azampay/callback"
        pay_settings = settings.with_(
            azampay_base_url=url, azampay_app_name=fake.app_name, azampay_client_id=fake.client_id,
            azampay_client_secret=fake.client_secret, public_base_url=f"http://127.0.0.1:{port}",
            payment_fees=f"azampay:collection={fee}")
        client = await aiohttp_client(create_app(pay_settings), server_kwargs={"port": port})
        user = await users.register(client.app[appkeys.DB], parse_msisdn(number), "Zawadi", "en",
                                          hash_user_pin("4826", 16))
        return client, fake, user
    return make


async def state_of(client, reference: str, want: set[str], seconds: float = 3) -> str:
    for _ in range(int(seconds / 0.02)):
        state = (await payment(client, reference)).state
        if state in want:
            return state
        await asyncio.sleep(0.02)
    return state


async def reconcile_past_expiry(client):
    return await client.app[appkeys.PAYMENTS].reconcile(timedelta(0), timedelta(0))


# (label, fake setup, decision, (operator's word, why it was up for review), final state, balance, words in
# the last SMS, SMS count)
OUTCOMES = [
    ("success", None, (True, None), None, "succeeded", 150000, "deposit of TSh 1,500 received", 1),
    ("declined", None, (False, "APPROVAL_REJECTED"), None, "failed", 0, "it was declined. Nothing was taken", 1),
    ("insufficient funds", None, (False, "NOT_ENOUGH_FUNDS"), None, "failed", 0, "not enough funds", 1),
    ("timeout", None, (False, "EXPIRED"), None, "failed", 0, "it timed out", 1),
    ("failed, no reason given", None, (False, "OTHER"), None, "failed", 0, "the mobile money service refused it",
     1),
    ("ambiguous then success", "http500_after", (True, None), None, "succeeded", 150000, "received", 1),
    ("duplicated callback", "twice", (True, None), None, "succeeded", 150000, "received", 1),
    # Nothing we can trust arrives: the payment waits for an operator, the user is told it is being checked.
    ("callback lost, operator finds it paid", "lose_callback", (True, None), ("paid", "NO_ANSWER"), "succeeded",
     150000, "received", 2),
    ("unsigned callback, operator finds it unpaid", "unsigned", (True, None), ("unpaid", "UNSIGNED succeeded"),
     "failed", 0, "no payment reached us", 2),
    ("paid another amount", "wrong_amount", (True, None), ("paid", "AMOUNT_MISMATCH"), "succeeded", 150000,
     "received", 2),
    ("never reached AzamPay", "http500", None, ("unpaid", "NO_ANSWER"), "failed", 0, "Nothing was taken", 2),
    # issue 16: a checkout refused at once in the network's words says why, like a declined callback
    ("refused at checkout: Insufficient balance", "refused_insufficient", None, None, "failed", 0,
     "not enough funds", 1),
]


@pytest.mark.parametrize("case", OUTCOMES, ids=[c[0] for c in OUTCOMES])
async def test_deposit_outcomes(make_azam, case):
    label, setup, decision, operator, state, balance, words, count = case
    client, fake, user = await make_azam()
    payments = client.app[appkeys.PAYMENTS]
    fake.auto = False
    if setup:
        fake.fail(setup)
    started = await payments.deposit(user, 150000, key=uuid.uuid4().hex)
    if decision is not None:
        await fake.decide(started.reference, *decision)
    if operator:
        if setup in ("lose_callback", "http500"):                  # nothing came: the job gives up asking
            assert (await reconcile_past_expiry(client)) == {"review": 1}
        assert await state_of(client, started.reference, {"review"}) == "review"
        assert "we are checking your deposit" in (await sms_to(client, user.msisdn))[0]
        assert [(p.reference, p.reason) for p in await payments.under_review()] == [(started.reference, operator[1])]
        await payments.resolve(started.reference, operator[0] == "paid")
    final = await state_of(client, started.reference, {"succeeded", "failed"})
    assert final == state
    assert await money(client, user) == balance
    texts = await sms_to(client, user.msisdn)
    assert len(texts) == count and words in texts[-1], texts
    await books_ok(client)


async def test_a_forged_callback_is_refused_and_changes_nothing(make_azam):
    client, fake, user = await make_azam()
    fake.auto = False
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    body = fake.callback_body(fake.txns[started.reference])
    body["transactionstatus"] = "success"                       # the signature was made over "pending"
    resp = await client.post("/payments/azampay/callback", json=body)
    assert resp.status == 403
    assert (await payment(client, started.reference)).state == "pending"
    assert await money(client, user) == 0 and await sms_to(client, user.msisdn) == []
    metrics = await (await client.get("/metrics")).text()
    assert 'payment_callbacks_total{provider="azampay",result="forged"} 1.0' in metrics


async def test_a_signed_callback_cannot_settle_another_providers_payment(make_azam):
    client, fake, user = await make_azam()
    fake.auto = False
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    async with client.app[appkeys.DB]() as s, s.begin():
        row = await s.scalar(select(Payment).where(Payment.reference == started.reference))
        row.provider = "mtn"                                   # as if it were an MTN payment
    await fake.decide(started.reference, True)
    assert (await payment(client, started.reference)).state == "pending"
    assert await money(client, user) == 0


async def test_the_operator_cannot_resolve_what_is_not_under_review(make_azam):
    client, fake, user = await make_azam()
    payments = client.app[appkeys.PAYMENTS]
    started = await payments.deposit(user, 150000, key=uuid.uuid4().hex)
    assert await state_of(client, started.reference, {"succeeded"}) == "succeeded"
    for reference in (started.reference, str(uuid.uuid4())):
        with pytest.raises(NotUnderReview):
            await payments.resolve(reference, paid=False)
    assert await money(client, user) == 150000


async def test_a_signed_callback_after_review_settles_it(make_azam):
    client, fake, user = await make_azam()
    fake.auto = False
    fake.fail("unsigned")
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    txn = await fake.decide(started.reference, True)
    assert await state_of(client, started.reference, {"review"}) == "review"
    await fake._deliver(fake.callback_body(txn))                 # AzamPay retries, signed this time
    assert await state_of(client, started.reference, {"succeeded"}) == "succeeded"
    assert await money(client, user) == 150000


async def test_the_same_signed_callback_50_times_at_once_credits_once(make_azam):
    client, fake, user = await make_azam(fee=1000)
    fake.auto = False
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    txn = fake.txns[started.reference]
    txn.status, txn.message = "success", "Transaction successful"
    body = fake.callback_body(txn)
    assert body["amount"] == "1510", "the phone paid the amount and the fee"
    replies = await asyncio.gather(*(client.post("/payments/azampay/callback", json=body) for _ in range(50)))
    assert {r.status for r in replies} == {200}
    metrics = await (await client.get("/metrics")).text()
    assert 'payment_callbacks_total{provider="azampay",result="succeeded"} 50.0' in metrics
    assert await money(client, user) == 150000
    async with client.app[appkeys.DB]() as s:
        entries = await s.scalar(select(func.count()).select_from(JournalEntry)
                                 .where(JournalEntry.idempotency_key == f"pay:{started.reference}:settle"))
    assert entries == 1 and len(await sms_to(client, user.msisdn)) == 1
    await books_ok(client)


async def test_a_signed_callback_racing_the_reconciliation_job_credits_once(make_azam):
    client, fake, user = await make_azam()
    fake.auto = False
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    txn = fake.txns[started.reference]
    txn.status = "success"
    body = fake.callback_body(txn)
    await asyncio.gather(client.post("/payments/azampay/callback", json=body), reconcile_past_expiry(client),
                         client.post("/payments/azampay/callback", json=body))
    final = await payment(client, started.reference)
    assert final.state == "succeeded", "review (the job) -> succeeded (the signed callback), either order"
    assert await money(client, user) == 150000
    await books_ok(client)


async def test_the_operator_reviews_and_resolves_from_the_command_line(make_azam):
    import os
    import subprocess
    import sys

    client, fake, user = await make_azam()
    fake.auto = False
    fake.fail("unsigned")
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    await fake.decide(started.reference, True)
    assert await state_of(client, started.reference, {"review"}) == "review"
    settings = client.app[appkeys.SETTINGS]
    env = {**os.environ, "DATABASE_URL": settings.effective_database_url, "ENERLECTRA_HOME": str(settings.home),
           "ENERLECTRA_DB_SCHEMA": settings.database_schema or ""}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ussd_app.cli", "payments", *args], env=env,
                              capture_output=True, text=True)
    listed = cli("review")
    assert started.reference in listed.stdout and "UNSIGNED succeeded" in listed.stdout, listed.stderr
    assert "TSh 1,500" in listed.stdout
    done = cli("resolve", started.reference, "paid")
    assert done.returncode == 0 and "succeeded" in done.stdout, done.stdout + done.stderr
    again = cli("resolve", started.reference, "unpaid")
    assert again.returncode == 1 and "succeeded" in again.stdout
    assert "no payments waiting" in cli("review").stdout
    assert await money(client, user) == 150000
    await books_ok(client)
