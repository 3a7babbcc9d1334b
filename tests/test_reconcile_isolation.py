"""Item 11: one payment whose provider this worker lacks is skipped in one line; the others reconcile."""
from __future__ import annotations

import asyncio
import logging
import uuid

from enerlectra.jobs import MONEY, RECONCILE_JOB, make_queue
from tests.jobs import run_jobs
from tests.test_payments import NUMBERS, airtel, make_pay, money, mtn, pawapay, payment  # noqa: F401 fixtures
from ussd_app import appkeys


async def test_a_payment_of_an_unconfigured_provider_does_not_stop_the_others(make_pay, airtel, caplog):
    client, mtn_fake, user = await make_pay("mtn")
    payments = client.app[appkeys.PAYMENTS]
    for fake in (mtn_fake, airtel[0]):
        fake.fail("lose_callback")
    # First an Airtel deposit (from another wallet of the user's), then an MTN one; both callbacks lost.
    airtel_started = await payments.deposit(user, 3000, NUMBERS["airtel"], key=uuid.uuid4().hex)
    mtn_started = await payments.deposit(user, 5000, key=uuid.uuid4().hex)
    await asyncio.sleep(0.1)
    assert [(await payment(client, p.reference)).state for p in (airtel_started, mtn_started)] == ["pending"] * 2
    # The worker runs without Airtel configured (the split setup's mistake): MTN's deposit still settles.
    job_settings = client.app[appkeys.SETTINGS].with_(payment_check_seconds=0, airtel_base_url=None)
    queue = make_queue(job_settings.redis_url, job_settings.queue_name, MONEY)
    job = queue.enqueue(RECONCILE_JOB)
    queue.connection.close()
    with caplog.at_level(logging.WARNING, logger="payments.service"):
        await run_jobs(job_settings)
    assert (await payment(client, mtn_started.reference)).state == "succeeded"
    assert (await payment(client, airtel_started.reference)).state == "pending"      # its turn comes later
    assert await money(client, user) == 5000
    skipped = [r for r in caplog.records if airtel_started.reference in r.getMessage()]
    assert len(skipped) == 1 and "not configured" in skipped[0].getMessage() and not skipped[0].exc_info
    job.refresh()
    assert job.get_status() == "finished" and job.return_value().get("unconfigured") == 1, job.return_value()


def test_a_worker_started_on_its_own_has_the_providers_serve_has(settings):
    """serve's plan (its local sandboxes) is what `enerlectra worker` of the same home configures."""
    from enerlectra.settings import Settings
    from payments.sandboxes import local as local_payments

    env = {"ENERLECTRA_HOME": str(settings.home), "MTN_MOMO_BASE_URL": "https://mtn.example", "MTN_MOMO_API_KEY": "k"}
    served, sandboxes = local_payments.plan(Settings.from_env(env))
    assert local_payments.missing(Settings.from_env(env)) == ["airtel", "pawapay", "azampay"]   # before: nothing
    local_payments.remember(served, sandboxes)
    worker = local_payments.attach(Settings.from_env(env))
    fields = [f for names in local_payments.PROVIDER_FIELDS.values() for f in names]
    assert [getattr(worker, f) for f in fields] == [getattr(served, f) for f in fields]
    assert worker.mtn_base_url == "https://mtn.example"                       # a variable set wins
    assert local_payments.missing(worker) == []
    local_payments.forget(served)
    assert local_payments.attach(Settings.from_env(env)).airtel_base_url is None
