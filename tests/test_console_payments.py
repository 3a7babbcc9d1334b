"""The console's Payments page: who sees it, its filters and CSV, the review queue and its resolve (admins only,
the CLI's own Payments.resolve: audited, once), stuck payments, today's counts; and the CLI's resolve audited."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import JournalEntry, Payment, SmsOutbox
from enerlectra.domain import outbox, wallet
from tests.console_helpers import operator_client
from tests.console_seeds import add_payment, add_user, audit_rows
from tests.test_cli import run_cli
from tests.test_console_access import _cluster
from ussd_app import appkeys

NUMBER = "+260971234567"


async def _state(client, reference: str) -> str:
    async with client.app[appkeys.DB_READ]() as s:
        return await s.scalar(select(Payment.state).where(Payment.reference == reference))


async def _settle_entries(client, reference: str) -> int:
    async with client.app[appkeys.DB_READ]() as s:
        return await s.scalar(select(func.count()).select_from(JournalEntry)
                              .where(JournalEntry.idempotency_key == f"pay:{reference}:settle"))


async def _csv(client, query: str) -> list[dict]:
    resp = await client.get(f"/console/payments?format=csv&{query}")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(await resp.text())))


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
async def test_the_payments_page_by_role(client, role, status):
    await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)
    resp = await client.get("/console/payments")
    assert resp.status == status
    assert (await client.get("/console/payments?format=csv&table=review")).status == status


@pytest.mark.parametrize("query, shown", [
    ("", {"mtn-ok", "airtel-failed", "azam-review", "payout-pending"}),
    ("provider=mtn", {"mtn-ok", "payout-pending"}),
    ("state=failed", {"airtel-failed"}),
    ("direction=payout", {"payout-pending"}),
    ("currency=TZS", {"azam-review"}),
    ("provider=mtn&direction=collection", {"mtn-ok"}),
    ("currency=ZMW&state=review", set()),
])
async def test_filters_pick_the_payments_and_the_csv_holds_them(client, query, shown):
    await operator_client(client, "viewer")
    zm, tz = await add_user(client.app, NUMBER), await add_user(client.app, "+255712345678", language="sw")
    refs = {"mtn-ok": await add_payment(client.app, zm, "succeeded"),
            "airtel-failed": await add_payment(client.app, zm, "failed", provider="airtel"),
            "azam-review": await add_payment(client.app, tz, "review", provider="azampay", amount=150_000),
            "payout-pending": await add_payment(client.app, zm, "pending", direction="payout")}
    rows = await _csv(client, f"table=payments&{query}")
    assert {r["reference"] for r in rows} == {refs[name] for name in shown}
    zambian = [r["number"] for r in rows if r["reference"] != refs["azam-review"]]
    assert all(n == "'+26097****567" for n in zambian)          # masked; the CSV quotes a leading +
    assert NUMBER not in await (await client.get(f"/console/payments?{query}")).text()     # masked on this page


async def test_newest_first_and_paged(client):
    await operator_client(client, "viewer")
    user = await add_user(client.app, NUMBER)
    refs = [await add_payment(client.app, user, "succeeded", amount=100 + i) for i in range(55)]
    first = await _csv(client, "table=payments")
    second = await _csv(client, "table=payments&page=2")
    assert [r["reference"] for r in first] == refs[::-1][:50]
    assert [r["reference"] for r in second] == refs[::-1][50:]


@pytest.mark.parametrize("query", ["state=lost", "provider=visa", "direction=sideways", "currency=USD", "page=0",
                                   "page=x"])
async def test_a_bad_filter_is_a_400_in_one_line(client, query):
    await operator_client(client, "viewer")
    resp = await client.get(f"/console/payments?{query}")
    assert resp.status == 400 and (await resp.text()).count("\n") == 1


@pytest.mark.parametrize("role, buttons", [("admin", True), ("support", False), ("viewer", False)])
async def test_everyone_sees_the_review_queue_only_admins_the_buttons(client, role, buttons):
    await operator_client(client, role)
    user = await add_user(client.app, NUMBER)
    reference = await add_payment(client.app, user, "review", reason="UNSIGNED succeeded")
    page = await (await client.get("/console/payments")).text()
    assert reference in page and "UNSIGNED succeeded" in page
    assert ('value="paid"' in page) is buttons
    assert [r["reference"] for r in await _csv(client, "table=review")] == [reference]


@pytest.mark.parametrize("role", ["support", "viewer", "chair"])
async def test_a_resolve_from_anyone_but_an_admin_is_refused(client, role):
    csrf = await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)
    user = await add_user(client.app, NUMBER)
    reference = await add_payment(client.app, user, "review")
    resp = await client.post(f"/console/payments/{reference}/resolve", data={"csrf": csrf, "outcome": "paid"},
                             allow_redirects=False)
    assert resp.status == 403
    assert await _state(client, reference) == "review" and await audit_rows(client.app, "payment.resolve") == []


async def test_a_resolve_without_the_csrf_token_is_refused(client):
    await operator_client(client, "admin")
    user = await add_user(client.app, NUMBER)
    reference = await add_payment(client.app, user, "review")
    resp = await client.post(f"/console/payments/{reference}/resolve", data={"outcome": "paid"},
                             allow_redirects=False)
    assert resp.status == 403 and await _state(client, reference) == "review"


@pytest.mark.parametrize("outcome, state, entries, balance", [("paid", "succeeded", 1, 5_000),
                                                               ("unpaid", "failed", 0, 0)])
async def test_an_admin_resolves_once_audited_and_a_second_post_changes_nothing(client, outcome, state, entries,
                                                                                balance):
    csrf = await operator_client(client, "admin")
    user = await add_user(client.app, NUMBER)
    reference = await add_payment(client.app, user, "review", reason="NO_ANSWER")
    answers = []
    for _ in range(2):
        resp = await client.post(f"/console/payments/{reference}/resolve", data={"csrf": csrf, "outcome": outcome},
                                 allow_redirects=False)
        assert resp.status == 303
        answers.append(await (await client.get(resp.headers["Location"])).text())
    assert f"{reference} resolved: {state}" in answers[0]
    assert f"{reference} is {state} already" in answers[1] and "nothing changed" in answers[1]
    assert await _state(client, reference) == state
    assert await _settle_entries(client, reference) == entries
    [row] = await audit_rows(client.app, "payment.resolve")
    assert row.actor == "admin@example.com" and row.target == f"payment:{reference}"
    assert json.loads(row.before)["state"] == "review"
    assert json.loads(row.after) == {"state": state, "outcome": outcome}
    async with client.app[appkeys.DB_READ]() as s:
        sms = await s.scalar(select(func.count()).select_from(SmsOutbox).where(SmsOutbox.kind == "payment"))
        held = await wallet.balances(s, user.id, user.currency)
    assert sms == 1 and held.money == balance


@pytest.mark.parametrize("form, status", [({"outcome": "maybe"}, 400), ({}, 400)])
async def test_a_bad_outcome_is_a_400(client, form, status):
    csrf = await operator_client(client, "admin")
    user = await add_user(client.app, NUMBER)
    reference = await add_payment(client.app, user, "review")
    resp = await client.post(f"/console/payments/{reference}/resolve", data={"csrf": csrf, **form},
                             allow_redirects=False)
    assert resp.status == status and (await resp.text()).count("\n") == 1
    assert await _state(client, reference) == "review"


async def test_an_unknown_reference_is_a_clear_message(client):
    csrf = await operator_client(client, "admin")
    resp = await client.post("/console/payments/NOPE/resolve", data={"csrf": csrf, "outcome": "paid"})
    assert resp.status == 200 and "No payment has reference NOPE; nothing changed." in await resp.text()


async def test_stuck_payments_and_todays_counts(client, settings):
    await operator_client(client, "viewer")
    user = await add_user(client.app, NUMBER)
    old = outbox.now() - timedelta(minutes=settings.payment_expire_minutes + 5)
    stuck = {await add_payment(client.app, user, "ambiguous"), await add_payment(client.app, user, "pending", created_at=old),
             await add_payment(client.app, user, "submitted", created_at=old)}
    await add_payment(client.app, user, "pending")                    # fresh: the job has time yet
    await add_payment(client.app, user, "succeeded", created_at=old)
    assert {r["reference"] for r in await _csv(client, "table=stuck")} == stuck
    today = {(r["provider"], r["state"]): int(r["payments"]) for r in await _csv(client, "table=today")}
    assert today[("mtn", "pending")] == 1 + (old.date() == outbox.now().date())
    assert today[("mtn", "ambiguous")] == 1


async def test_the_cli_resolve_is_audited_as_cli(client, cli_env):
    user = await add_user(client.app, NUMBER)
    reference = await add_payment(client.app, user, "review")
    assert (await run_cli("payments", "resolve", reference, "paid"))[0] == 0
    assert (await run_cli("payments", "resolve", reference, "unpaid"))[0] == 1
    [row] = await audit_rows(client.app, "payment.resolve")
    assert row.actor == "cli" and row.operator_id is None and json.loads(row.after)["state"] == "succeeded"
    assert await _settle_entries(client, reference) == 1
