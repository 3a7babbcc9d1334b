"""The Health page: who may open it, what it shows (Redis, SQL, queues, workers, providers, last errors), that
it answers in bounded time when a provider hangs, and that its tables export as CSV."""
from __future__ import annotations

import asyncio
import csv
import io
import time

import pytest
from aiohttp import web
from rq import Worker

from enerlectra.jobs import MONEY, make_queue
from tests import console_seeds
from tests.console_helpers import operator_client
from tests.jobs import run_jobs
from ussd_app import appkeys
from ussd_app.app import create_app
from ussd_app.console import health_checks

PATH = "/console/health"


async def _cluster(client) -> str:
    from tests.test_console_access import _cluster as make
    return await make(client)


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
async def test_the_health_page_by_role(client, role, status):
    await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)
    resp = await client.get(PATH)
    assert resp.status == status
    nav = 'href="/console/health"' in await (await client.get("/console/me")).text()
    assert nav is (status == 200), "the nav bar links the page for the roles that may open it"


async def csv_of(client, table: str) -> list[dict[str, str]]:
    resp = await client.get(PATH, params={"format": "csv", "table": table})
    assert resp.status == 200 and resp.content_type == "text/csv"
    return list(csv.DictReader(io.StringIO(await resp.text())))


async def test_the_checks_say_redis_and_sql_answer_with_their_times(client):
    await operator_client(client, "viewer")
    checks = {row["check"]: row for row in await csv_of(client, "checks")}
    assert {name: row["state"] for name, row in checks.items()} == {
        "Redis": "ok", "SQL": "ok", "Queues": "ok", "Workers": "no worker: nothing queued runs",
        "Failed jobs": "ok", "Last errors in SQL": "ok"}
    assert float(checks["Redis"]["ms"]) >= 0 and float(checks["SQL"]["ms"]) >= 0
    sqlite = client.app[appkeys.DB_ENGINE].dialect.name == "sqlite"
    assert ("MB" if sqlite else "connections") in checks["SQL"]["detail"]
    queues = {row["queue"] for row in await csv_of(client, "queues")}
    assert queues == {q.name for q in client.app[appkeys.DISPATCH].queues.values()}


async def test_last_errors_list_failed_sms_questions_jobs_and_payments_in_review(client, settings):
    await operator_client(client, "support")
    owner = await console_seeds.add_user(client.app)
    reference = await console_seeds.review_payment(client.app, owner, amount=5_000)
    sms_id = await console_seeds.failed_sms(client.app, "gateway said 500 three times")
    question_id = await console_seeds.failed_question(client.app, owner, "APIStatusError: overloaded")
    queue = make_queue(settings.redis_url, settings.queue_name, MONEY)
    queue.enqueue("json.loads", "{not json", job_id=f"{queue.name}-broken-1")       # fails in the worker
    queue.connection.close()
    await run_jobs(settings)

    page = await (await client.get(PATH)).text()
    assert reference in page and "K50.00" in page
    assert [(r["id"], r["last error"]) for r in await csv_of(client, "failed_sms")] == [
        (str(sms_id), "gateway said 500 three times")]
    assert [(r["id"], r["error"]) for r in await csv_of(client, "failed_questions")] == [
        (str(question_id), "APIStatusError: overloaded")]
    assert [(r["reference"], r["why"]) for r in await csv_of(client, "review")] == [
        (reference, "UNSIGNED SUCCEEDED")]
    jobs = await csv_of(client, "failed_jobs")
    assert [(r["job"], r["function"]) for r in jobs] == [(f"{queue.name}-broken-1", "json.loads")]
    assert jobs[0]["error"].startswith("json.decoder.JSONDecodeError") or "JSONDecodeError" in jobs[0]["error"]
    failed = {r["queue"]: r["failed"] for r in await csv_of(client, "queues")}
    assert failed[queue.name] == "1"
    for name, count in (("failed SMS", 1), ("failed questions", 1), ("payments in review", 1)):
        assert f"<b>{count}</b>{name}" in page


async def test_a_worker_shows_with_its_state_and_heartbeat_age(client, settings):
    await operator_client(client, "viewer")
    queue = make_queue(settings.redis_url, settings.queue_name, MONEY)
    worker = Worker([queue], connection=queue.connection, name=f"{settings.queue_name}-w1")
    worker.register_birth()
    worker.heartbeat()
    try:
        rows = await csv_of(client, "workers")
        workers = {r["check"]: r for r in await csv_of(client, "checks")}["Workers"]
    finally:
        worker.register_death()
        queue.connection.close()
    assert [(r["worker"], r["queues"]) for r in rows] == [(f"{settings.queue_name}-w1", queue.name)]
    assert 0 <= int(rows[0]["seconds since heartbeat"]) < 5
    assert (workers["state"], workers["detail"]) == ("ok", "1 workers")


@pytest.fixture
async def providers(aiohttp_server):
    """A live provider (answers anything), a port nobody listens on, and one that accepts and never answers."""
    live = await aiohttp_server(web.Application())
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader, writer):
        held.append(writer)

    hung = await asyncio.start_server(accept, "127.0.0.1", 0)
    closed = await asyncio.start_server(accept, "127.0.0.1", 0)
    closed_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    yield {"live": str(live.make_url("/")), "hung": f"http://127.0.0.1:{hung.sockets[0].getsockname()[1]}",
           "closed": f"http://127.0.0.1:{closed_port}"}
    hung.close()
    for writer in held:
        writer.close()


async def test_providers_are_probed_side_by_side_and_a_hung_one_never_holds_the_page(aiohttp_client, settings,
                                                                                   providers):
    client = await aiohttp_client(create_app(settings.with_(
        mtn_base_url=providers["live"], airtel_base_url=providers["hung"], pawapay_base_url=providers["closed"],
        azampay_base_url=None, at_username="sandbox", at_api_key="k", at_api_base_url=providers["live"])))
    await operator_client(client, "admin")
    started = time.monotonic()
    resp = await client.get(PATH)
    took = time.monotonic() - started
    assert resp.status == 200 and took < 2.5, took
    rows = {r["provider"]: r for r in await csv_of(client, "providers")}
    got = {name: (row["state"], row["detail"]) for name, row in rows.items()}
    assert got == {
        "MTN MoMo": ("ok", "HTTP 404"),
        "Airtel Money": ("error: no answer within 1.5 s", ""),
        "pawaPay": ("error: ClientConnectorError", ""),
        "AzamPay": ("not configured", "not configured: no local sandbox in this process"),
        "Africa's Talking SMS": ("ok", "HTTP 404"),
    }


@pytest.mark.parametrize("settings_change, url", [
    ({}, None),
    ({"at_username": "sandbox"}, health_checks.AT_SANDBOX),
    ({"at_username": "enerlectra"}, health_checks.AT_LIVE),
    ({"at_username": "enerlectra", "at_api_base_url": "http://127.0.0.1:9/"}, "http://127.0.0.1:9/"),
])
def test_africas_talking_is_probed_where_the_sdk_would_send(settings, settings_change, url):
    urls = {name: found for name, found, _ in health_checks.provider_urls(settings.with_(**settings_change))}
    assert urls["Africa's Talking SMS"] == url


@pytest.mark.parametrize("text, line", [
    ("Traceback (most recent call last):\n  File x\nValueError: bad\n", "ValueError: bad"),
    ("", ""), (None, ""), ("one line", "one line"), ("x" * 500, "x" * health_checks.EXCEPTION_CHARS),
    ("OSError: cannot reach redis://:hunter2@10.0.0.5:6379/0 now",
     "OSError: cannot reach redis://:***@10.0.0.5:6379/0 now"),
    ("HTTPError: 401 for 'https://api.example/pay?token=abc123&x=1'",
     "HTTPError: 401 for 'https://api.example/pay?token=***&x=1'"),
])
def test_an_exception_shows_as_its_last_line(text, line):
    assert health_checks.last_line(text) == line
