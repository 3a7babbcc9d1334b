"""Mobile money through the fake MTN MoMo server (protocols.md section 4): the provider's wire format as a
table, then what a user ends up with for every outcome, duplicate and racing callbacks, and the books."""
from __future__ import annotations

import asyncio
import json
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from enerlectra.db.models import JournalEntry, Payment, SmsOutbox
from enerlectra.domain import ledger, users, wallet
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_pin, pin_key
from payments.providers.base import AMBIGUOUS, FAILED, NOT_FOUND, PENDING, SUCCEEDED, BadCallback, Order
from payments.providers.mtn import MtnMomo, amount_text
from payments.sandboxes.mtn import FakeMtn, running
from ussd_app import appkeys
from ussd_app.app import create_app

USER = "+260961500001"          # an MTN number


@pytest.fixture
async def mtn():
    fake = FakeMtn(decide_after=0.02)
    async with running(fake) as url:
        yield fake, url


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NUMBERS = {"mtn": USER, "airtel": "+260971500002", "pawapay": "+260951500003"}     # pawaPay: Zamtel
PROVIDERS = list(NUMBERS)
# The same situation, in each fake's own words.
MODES = {"mtn": {"ambiguous_then_success": "http500_after"}, "airtel": {"ambiguous_then_success": "ambiguous"},
         "pawapay": {"ambiguous_then_success": "http500_after"}}
# pawaPay reports a prompt that timed out as PAYMENT_NOT_APPROVED, so the user reads "declined".
SAYS = {("pawapay", "timeout"): "it was declined"}


@pytest.fixture
async def airtel():
    from payments.sandboxes.airtel import FakeAirtel
    from payments.sandboxes.airtel import running as running_airtel

    fake = FakeAirtel(decide_after=0.02, callback_key="portal-key")
    async with running_airtel(fake) as url:
        yield fake, url


@pytest.fixture
async def pawapay():
    from payments.sandboxes.pawapay import FakePawaPay
    from payments.sandboxes.pawapay import running as running_pawapay

    fake = FakePawaPay(decide_after=0.02)
    async with running_pawapay(fake) as url:
        yield fake, url


@pytest.fixture
def make_pay(aiohttp_client, settings, mtn, airtel, pawapay):
    """The app with MTN MoMo and Airtel Money pointed at their fakes, listening where they call back."""
    async def make(provider: str, number: str | None = None):
        port = _port()
        (mtn_fake, mtn_url), (airtel_fake, airtel_url), (pawa_fake, pawa_url) = mtn, airtel, pawapay
        airtel_fake.callback_url = f"http://127.0.0.1:{port}/payments/airtel/callback"
        pawa_fake.callback_url = f"http://127.0.0.1:{port}/payments/pawapay/callback"
        pay_settings = settings.with_(
            mtn_base_url=mtn_url, mtn_api_user=mtn_fake.api_user, mtn_api_key=mtn_fake.api_key,
            mtn_subscription_key=mtn_fake.subscription_key, airtel_base_url=airtel_url,
            airtel_client_id=airtel_fake.client_id, airtel_client_secret=airtel_fake.client_secret,
            airtel_callback_key=airtel_fake.callback_key, pawapay_base_url=pawa_url, pawapay_token=pawa_fake.token,
            public_base_url=f"http://127.0.0.1:{port}",
            payment_fees=f"{provider}:collection=100,{provider}:payout=250")
        client = await aiohttp_client(create_app(pay_settings), server_kwargs={"port": port})
        user = await users.register(client.app[appkeys.DB], parse_msisdn(number or NUMBERS[provider]),
                                          "Musonda", "en", hash_pin("4826", 16, key=pin_key()))
        return client, {"mtn": mtn_fake, "airtel": airtel_fake, "pawapay": pawa_fake}[provider], user
    return make


@pytest.fixture
async def pay(make_pay):
    return await make_pay("mtn")


async def payment(client, reference: str) -> Payment:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(select(Payment).where(Payment.reference == reference))


async def settled(client, reference: str, seconds: float = 5) -> Payment:
    for _ in range(int(seconds / 0.02)):
        p = await payment(client, reference)
        if p.state in ("succeeded", "failed", "expired"):
            return p
        await asyncio.sleep(0.02)
    return p


async def money(client, user) -> int:
    async with client.app[appkeys.DB]() as s:
        return (await wallet.balances(s, user.id, user.currency)).money


async def sms_to(client, msisdn: str = USER) -> list[str]:
    async with client.app[appkeys.DB]() as s:
        return list((await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == msisdn,
                                                                 SmsOutbox.kind == "payment")
                                     .order_by(SmsOutbox.id))).all())


async def books_ok(client) -> None:
    async with client.app[appkeys.DB]() as s:
        assert await ledger.verify(s) == []


# -- the provider's wire format --------------------------------------------------------------------

@pytest.mark.parametrize("minor,text", [(2550, "25.50"), (2500, "25"), (1, "0.01"), (100000, "1000")])
def test_amounts_go_to_mtn_as_major_unit_strings(minor, text):
    assert amount_text(minor, "ZMW") == text


@pytest.fixture
async def provider(mtn):
    fake, url = mtn
    async with aiohttp.ClientSession() as http:
        yield MtnMomo(http, url, fake.api_user, fake.api_key, fake.subscription_key, "sandbox", None), fake


def _order(direction="collection", msisdn="+260961500009", amount=2550) -> Order:
    return Order(str(uuid.uuid4()), direction, msisdn, "ZMW", amount)


async def test_request_to_pay_shape_and_token_cached(provider):
    mtn, fake = provider
    orders = [_order(), _order()]
    for order in orders:
        assert (await mtn.submit(order)).status == PENDING
    txn = fake.txns[orders[0].reference]
    assert txn.body == {"amount": "25.50", "currency": "ZMW", "externalId": orders[0].reference,
                        "payerMessage": "Enerlectra", "payeeNote": "Enerlectra",
                        "payer": {"partyIdType": "MSISDN", "partyId": "260961500009"}}
    assert txn.callback_url is None, "no X-Callback-Url configured: no callback"
    assert fake.token_requests == 1, "one token for its lifetime"


async def test_transfer_shape(provider):
    mtn, fake = provider
    order = _order("payout")
    assert (await mtn.submit(order)).status == PENDING
    assert fake.txns[order.reference].product == "disbursement"
    assert fake.txns[order.reference].body["payee"] == {"partyIdType": "MSISDN", "partyId": "260961500009"}


async def test_same_reference_twice_is_409_and_still_pending(provider):
    mtn, fake = provider
    order = _order()
    assert (await mtn.submit(order)).status == PENDING
    assert (await mtn.submit(order)).status == PENDING
    assert len(fake.txns) == 1


async def test_revoked_token_is_refreshed_once(provider):
    mtn, fake = provider
    await mtn.submit(_order())
    fake.tokens.clear()                                   # the cached token no longer works: 401
    assert (await mtn.submit(_order())).status == PENDING
    assert fake.token_requests == 2


@dataclass
class StatusCase:
    label: str
    status: str | None                      # set on the fake's transaction; None: unknown reference
    reason: str | None
    expected: str
    expected_reason: str | None = None


STATUSES = [
    StatusCase("PENDING", "PENDING", None, PENDING),
    StatusCase("CREATED (seen in the sandbox)", "CREATED", None, PENDING),
    StatusCase("SUCCESSFUL", "SUCCESSFUL", None, SUCCEEDED),
    StatusCase("FAILED with a reason object", "FAILED", "NOT_ENOUGH_FUNDS", FAILED, "NOT_ENOUGH_FUNDS"),
    StatusCase("an unknown status word", "TELEPORTED", None, AMBIGUOUS),
    StatusCase("unknown reference (404)", None, None, NOT_FOUND),
]


@pytest.mark.parametrize("case", STATUSES, ids=[c.label for c in STATUSES])
async def test_status_mapping(provider, case):
    mtn, fake = provider
    order = _order("collection", "+260961500054")             # a "Delayed" number: stays pending
    await mtn.submit(order)
    reference = order.reference
    if case.status is None:
        reference = str(uuid.uuid4())
    else:
        fake.txns[reference].status, fake.txns[reference].reason = case.status, case.reason
    got = await mtn.status("collection", reference)
    assert (got.status, got.reason) == (case.expected, case.expected_reason)


async def test_5xx_is_ambiguous_not_failed(provider):
    mtn, fake = provider
    fake.fail("http500")
    assert (await mtn.submit(_order())).status == AMBIGUOUS
    order = _order()
    await mtn.submit(order)
    fake.fail("status_500")
    assert (await mtn.status("collection", order.reference)).status == AMBIGUOUS


@pytest.mark.parametrize("body,ok", [(b'{"externalId": "abc", "status": "SUCCESSFUL"}', True),
                                     (b'{"status": "SUCCESSFUL"}', False), (b"not json", False), (b"[]", False)])
async def test_callback_parsing(provider, body, ok):
    mtn, _fake = provider
    if ok:
        assert (await mtn.parse_callback(body, {})).reference == "abc"
    else:
        with pytest.raises(BadCallback):
            await mtn.parse_callback(body, {})


# -- what a user ends up with ----------------------------------------------------------------------

@dataclass
class Outcome:
    label: str
    setup: str | None            # a fake failure mode, or a sandbox decision
    decision: tuple[bool, str | None] | None    # approve?, reason (None: the fake decides on its own)
    state: str
    balance: int                 # the wallet afterwards (minor units), starting from 0
    sms: str | None


DEPOSITS = [
    Outcome("success", None, None, "succeeded", 5000, "deposit of K50.00 received"),
    Outcome("declined", "manual", (False, "APPROVAL_REJECTED"), "failed", 0, "it was declined. Nothing was taken"),
    Outcome("insufficient funds", "manual", (False, "NOT_ENOUGH_FUNDS"), "failed", 0, "not enough funds"),
    Outcome("timeout", "manual", (False, "EXPIRED"), "failed", 0, "it timed out"),
    Outcome("ambiguous then success", "ambiguous_then_success", None, "succeeded", 5000,
            "deposit of K50.00 received"),
    Outcome("ambiguous, never arrived", "http500", None, "expired", 0, "it timed out. Nothing was taken"),
    Outcome("callback lost", "lose_callback", None, "succeeded", 5000, "deposit of K50.00 received"),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", DEPOSITS, ids=[c.label for c in DEPOSITS])
async def test_deposit_outcomes(make_pay, provider, case):
    client, fake, user = await make_pay(provider)
    payments = client.app[appkeys.PAYMENTS]
    if case.setup == "manual":
        fake.auto = False
    elif case.setup:
        fake.fail(MODES[provider].get(case.setup, case.setup))
    started = await payments.deposit(user, 5000, key=uuid.uuid4().hex)
    if case.decision is not None:
        await fake.decide(started.reference, *case.decision)
    if case.setup == "http500" or MODES[provider].get(case.setup) == "http500_after":
        assert started.state == "ambiguous"
    final = await settled(client, started.reference, seconds=0.5)
    if final.state not in ("succeeded", "failed"):           # no callback came: the reconciliation job asks;
        expire_after = timedelta(0) if case.setup == "http500" else timedelta(hours=1)   # never seen: give up
        await payments.reconcile(timedelta(0), expire_after)
        final = await settled(client, started.reference)
    assert final.state == case.state
    assert await money(client, user) == case.balance
    texts = await sms_to(client, user.msisdn)
    assert len(texts) == 1 and SAYS.get((provider, case.label), case.sms) in texts[0], texts
    async with client.app[appkeys.DB]() as s:
        fees = (await ledger.system(s, "fees", "ZMW")).balance
    assert fees == (100 if case.state == "succeeded" else 0)
    await books_ok(client)


WITHDRAWALS = [
    Outcome("success", None, None, "succeeded", 10000 - 2000 - 250, "K20.00 sent to your mobile money"),
    Outcome("failure refunds the hold", "payout_fail", None, "failed", 10000, "The money is back in your wallet"),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", WITHDRAWALS, ids=[c.label for c in WITHDRAWALS])
async def test_withdrawal_outcomes(make_pay, provider, case):
    client, fake, user = await make_pay(provider)
    await wallet.credit(client.app[appkeys.DB], "fund", user, "ZMW", 10000, "test")
    if case.setup:
        fake.fail(case.setup)
    started = await client.app[appkeys.PAYMENTS].withdraw(user, 2000, key=uuid.uuid4().hex)
    assert await money(client, user) == 10000 - 2250, "held at once"
    final = await settled(client, started.reference)
    assert final.state == case.state
    assert await money(client, user) == case.balance
    texts = await sms_to(client, user.msisdn)
    assert len(texts) == 1 and case.sms in texts[0], texts
    await books_ok(client)


async def test_withdrawal_beyond_the_balance_holds_nothing(pay):
    client, fake, user = pay
    with pytest.raises(ledger.InsufficientFunds):
        await client.app[appkeys.PAYMENTS].withdraw(user, 2000, key=uuid.uuid4().hex)
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == 0
    assert fake.txns == {}


# -- duplicates and races --------------------------------------------------------------------------

async def test_the_same_success_callback_50_times_at_once_credits_once(pay):
    client, fake, user = pay
    fake.auto = False
    started = await client.app[appkeys.PAYMENTS].deposit(user, 5000, key=uuid.uuid4().hex)
    txn = fake.txns[started.reference]
    txn.status = "SUCCESSFUL"                                # decided, but the callbacks are ours to send
    body = json.dumps({"externalId": started.reference, "status": "SUCCESSFUL", "amount": "51"})
    replies = await asyncio.gather(*(client.post("/payments/mtn/callback", data=body,
                                                 headers={"Content-Type": "application/json"})
                                     for _ in range(50)))
    assert {r.status for r in replies} == {200}
    assert await money(client, user) == 5000
    async with client.app[appkeys.DB]() as s:
        entries = await s.scalar(select(func.count()).select_from(JournalEntry)
                                 .where(JournalEntry.idempotency_key == f"pay:{started.reference}:settle"))
    assert entries == 1 and len(await sms_to(client, USER)) == 1
    await books_ok(client)


async def test_a_callback_racing_the_reconciliation_job_credits_once(pay):
    client, fake, user = pay
    fake.auto = False
    payments = client.app[appkeys.PAYMENTS]
    started = await payments.deposit(user, 5000, key=uuid.uuid4().hex)
    fake.txns[started.reference].status = "SUCCESSFUL"
    body = json.dumps({"externalId": started.reference, "status": "SUCCESSFUL"})
    await asyncio.gather(client.post("/payments/mtn/callback", data=body),
                         payments.reconcile(timedelta(0), timedelta(hours=1)),
                         client.post("/payments/mtn/callback", data=body))
    assert await money(client, user) == 5000
    assert len(await sms_to(client, USER)) == 1
    await books_ok(client)


@pytest.mark.parametrize("path,body,status", [
    ("/payments/nobody/callback", b'{"externalId": "x"}', 404),
    ("/payments/mtn/callback", b"not json", 400),
    ("/payments/mtn/callback", b'{"status": "SUCCESSFUL"}', 400),
    ("/payments/mtn/callback", b'{"externalId": "no-such-payment", "status": "SUCCESSFUL"}', 404),
    ("/payments/airtel/callback", b'{"transaction": {"id": "x", "status_code": "TS"}, "hash": "guess"}', 403),
])
async def test_bad_callbacks_get_4xx(pay, path, body, status):
    client, _fake, user = pay
    resp = await client.post(path, data=body)
    assert resp.status == status
    assert await money(client, user) == 0


async def test_a_deposit_confirmed_after_we_gave_up_on_it_is_credited(pay):
    client, fake, user = pay
    fake.auto = False
    payments = client.app[appkeys.PAYMENTS]
    started = await payments.deposit(user, 5000, key=uuid.uuid4().hex)
    assert await payments.reconcile(timedelta(0), timedelta(0)) == {"expired": 1}
    await fake.decide(started.reference, True)              # the phone's owner approved late; MTN calls back
    assert (await settled(client, started.reference)).state == "succeeded"
    assert await money(client, user) == 5000
    texts = await sms_to(client, USER)
    assert len(texts) == 2 and "timed out" in texts[0] and "received" in texts[1], texts
    await books_ok(client)


async def test_the_worker_reconciliation_job_settles_a_payment_whose_callback_was_lost(pay):
    from enerlectra.jobs import MONEY, RECONCILE_JOB, make_queue
    from tests.jobs import run_jobs

    client, fake, user = pay
    fake.fail("lose_callback")
    started = await client.app[appkeys.PAYMENTS].deposit(user, 5000, key=uuid.uuid4().hex)
    await asyncio.sleep(0.1)                                    # the fake decided; nobody told us
    assert (await payment(client, started.reference)).state == "pending"
    job_settings = client.app[appkeys.SETTINGS].with_(payment_check_seconds=0)
    queue = make_queue(job_settings.redis_url, job_settings.queue_name, MONEY)
    queue.enqueue(RECONCILE_JOB)
    queue.connection.close()
    await run_jobs(job_settings)                                # the job, then the SMS it queued
    assert (await payment(client, started.reference)).state == "succeeded"
    assert await money(client, user) == 5000
    await books_ok(client)


@pytest.mark.parametrize("amounts,refused,which", [
    ((6000,), 6000, "payment"),                 # above the per-payment limit (K50.00 here)
    ((5000, 5000), 5000, "day"),                # the second passes today's K80.00
])
async def test_limits_per_payment_and_per_day(pay, amounts, refused, which):
    from payments.service import Limits, OverLimit

    client, fake, user = pay
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = Limits(per_payment=5000, per_day=8000)
    for amount in amounts[:-1]:
        await settled(client, (await payments.deposit(user, amount, key=uuid.uuid4().hex)).reference)
    with pytest.raises(OverLimit) as exc:
        await payments.deposit(user, refused, key=uuid.uuid4().hex)
    assert exc.value.which == which
    async with client.app[appkeys.DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == len(amounts) - 1


async def test_a_failed_deposit_does_not_use_up_the_day(pay):
    from payments.service import Limits

    client, fake, user = pay
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = Limits(per_payment=5000, per_day=5000)
    fake.auto = False
    first = await payments.deposit(user, 5000, key=uuid.uuid4().hex)
    await fake.decide(first.reference, False, "NOT_ENOUGH_FUNDS")
    assert (await settled(client, first.reference)).state == "failed"
    fake.auto = True
    second = await payments.deposit(user, 5000, key=uuid.uuid4().hex)
    assert (await settled(client, second.reference)).state == "succeeded"


# -- Airtel Money's wire format -------------------------------------------------------------------

@pytest.fixture
async def airtel_provider(airtel):
    from payments.providers.airtel import AirtelMoney

    fake, url = airtel
    async with aiohttp.ClientSession() as http:
        yield AirtelMoney(http, url, fake.client_id, fake.client_secret, fake.callback_key, "ENCRYPTED-PIN"), fake


async def test_airtel_collection_shape_and_token(airtel_provider):
    provider, fake = airtel_provider
    order = _order("collection", "+260971500009")
    assert (await provider.submit(order)).status == PENDING
    txn = fake.txns[order.reference]
    assert (txn.kind, txn.msisdn, txn.amount) == ("payments", "971500009", "25.50"), "msisdn without 260"
    assert (await provider.submit(order)).status == PENDING, "a repeated id (ESB000041) arrived before"
    assert fake.token_requests == 1
    fake.tokens.clear()
    assert (await provider.submit(_order("collection", "+260971500009"))).status == PENDING
    assert fake.token_requests == 2, "401 -> one fresh token"


@pytest.mark.parametrize("code,expected,reason", [
    ("TS", SUCCEEDED, None), ("TF", FAILED, "NOT_ENOUGH_FUNDS"), ("TE", FAILED, "EXPIRED"),
    ("TIP", PENDING, None), ("TA", AMBIGUOUS, None), ("??", AMBIGUOUS, None), (None, NOT_FOUND, None),
])
async def test_airtel_enquiry_mapping(airtel_provider, code, expected, reason):
    provider, fake = airtel_provider
    fake.auto = False
    order = _order("collection", "+260971500009")
    await provider.submit(order)
    reference = order.reference if code else str(uuid.uuid4())
    if code:
        fake.txns[reference].status, fake.txns[reference].message = code, "DP00800001007"
    got = await provider.status("collection", reference, "ZMW")
    assert (got.status, got.reason) == (expected, reason)


async def test_airtel_payout_shape_and_5xx(airtel_provider):
    provider, fake = airtel_provider
    order = _order("payout", "+260971500009")
    assert (await provider.submit(order)).status == PENDING
    assert fake.txns[order.reference].kind == "disbursements"
    fake.fail("http500")
    assert (await provider.submit(_order("payout"))).status == AMBIGUOUS


async def test_airtel_callback_hash_is_checked(airtel_provider):
    from payments.providers.airtel import callback_hash

    provider, fake = airtel_provider
    txn = {"id": "abc", "message": "SUCCESS", "status_code": "TS", "airtel_money_id": "MP1"}
    good = json.dumps({"transaction": txn, "hash": callback_hash(txn, "portal-key")}).encode()
    assert (await provider.parse_callback(good, {})).reference == "abc"
    forged = json.dumps({"transaction": txn, "hash": callback_hash(txn, "guess")}).encode()
    with pytest.raises(BadCallback, match="hash"):
        await provider.parse_callback(forged, {})



# -- pawaPay (Zamtel, Tanzania) ------------------------------------------------------------------

@pytest.mark.parametrize("msisdn,code,decimals", [
    ("+260951234567", "ZAMTEL_ZMB", 2), ("+255754123456", "VODACOM_TZA", 0), ("+255712345678", "TIGO_TZA", 0),
    ("+255652345678", "TIGO_TZA", 0), ("+255622345678", "HALOTEL_TZA", 0), ("+255682345678", "AIRTEL_TZA", 0),
    ("+260961234567", "MTN_MOMO_ZMB", 2),            # the fallback when MTN's own API is not configured
    ("+260981234567", None, None), ("+255732345678", None, None),      # Beeline, TTCL: no mobile money we reach
])
def test_pawapay_provider_by_network(msisdn, code, decimals):
    from payments.providers.pawapay import provider_code

    assert provider_code(msisdn) == ((code, decimals) if code else None)


@pytest.mark.parametrize("minor,decimals,text", [(2550, 2, "25.50"), (2500, 2, "25"), (150000, 0, "1500")])
def test_pawapay_amounts(minor, decimals, text):
    from payments.providers.pawapay import amount_text

    assert amount_text(minor, decimals) == text


async def test_pawapay_request_shape_duplicate_and_status(pawapay):
    from payments.providers.pawapay import PawaPay

    fake, url = pawapay
    fake.auto = False
    async with aiohttp.ClientSession() as http:
        provider = PawaPay(http, url, fake.token)
        order = Order(str(uuid.uuid4()), "collection", "+255754123456", "TZS", 150000)
        assert (await provider.submit(order)).status == PENDING
        assert fake.txns[order.reference].body == {
            "depositId": order.reference, "amount": "1500", "currency": "TZS", "customerMessage": "Enerlectra",
            "payer": {"type": "MMO", "accountDetails": {"phoneNumber": "255754123456", "provider": "VODACOM_TZA"}}}
        assert (await provider.submit(order)).status == PENDING, "DUPLICATE_IGNORED: arrived before"
        assert (await provider.status("collection", order.reference)).status == PENDING
        await fake.decide(order.reference, False, "NOT_ENOUGH_FUNDS")
        got = await provider.status("collection", order.reference)
        assert (got.status, got.reason) == (FAILED, "NOT_ENOUGH_FUNDS")
        assert (await provider.status("collection", str(uuid.uuid4()))).status == NOT_FOUND
        cents = Order(str(uuid.uuid4()), "collection", "+255754123456", "TZS", 150050)
        assert (await provider.submit(cents)).reason == "INVALID_AMOUNT", "0-decimal networks: whole shillings"
        bad = PawaPay(http, url, "wrong-token")
        assert (await bad.submit(_order("collection", "+260951234567"))).status == FAILED


async def test_tanzanian_deposit_through_pawapay_in_tzs(make_pay):
    client, fake, user = await make_pay("pawapay", number="+255754500004")
    started = await client.app[appkeys.PAYMENTS].deposit(user, 150000, key=uuid.uuid4().hex)
    assert (await settled(client, started.reference)).state == "succeeded"
    assert await money(client, user) == 150000
    assert "TSh 1,500" in (await sms_to(client, user.msisdn))[0]
    await books_ok(client)


async def test_deposit_from_another_wallet_the_user_holds(make_pay, mtn):
    client, _airtel_fake, user = await make_pay("airtel")          # the phone is on Airtel ...
    mtn_fake, _url = mtn
    started = await client.app[appkeys.PAYMENTS].deposit(user, 5000, wallet="+260961500099",   # ... pays by MTN
                                                         key=uuid.uuid4().hex)
    assert mtn_fake.txns[started.reference].party == "260961500099"
    assert (await settled(client, started.reference)).state == "succeeded"
    assert (await payment(client, started.reference)).msisdn == "+260961500099"
    assert await money(client, user) == 5000
    assert len(await sms_to(client, user.msisdn)) == 1, "the receipt goes to the Enerlectra phone"
    await books_ok(client)


def test_local_sandboxes_call_back_with_the_webhook_token(settings):
    from payments.sandboxes import local as local_payments

    planned, boxes = local_payments.plan(settings.with_(webhook_token="t0k", public_base_url="http://app.example"))
    with_urls = {box.name: box.fake.callback_url for box in boxes if hasattr(box.fake, "callback_url")}
    assert with_urls == {name: f"http://app.example/payments/{name}/callback/t0k"
                         for name in ("airtel", "pawapay", "azampay")}          # MTN's travels in a header
    assert {box.name for box in boxes} == {"mtn", "airtel", "pawapay", "azampay"}
    assert planned.azampay_base_url == next(box.url for box in boxes if box.name == "azampay")
