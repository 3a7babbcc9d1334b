"""The console's Users pages: admin and support only; a search by number however it is typed; the profile
(language, balances, labelled history, PIN state, SMS with their text, payments, orders, clusters); Unlock and
Reset, each audited once (the reset with its identity-check note); and the CLI's `pin reset` audited."""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from enerlectra.db.models import Cluster, MarketOrder, Membership, SmsOutbox, User
from enerlectra.domain import ledger, outbox, pin_resets, wallet
from enerlectra.domain.phone import as_typed, parse_msisdn
from tests.console_helpers import form_key_in, operator_client
from tests.console_seeds import add_payment, add_user, audit_rows
from tests.test_cli import run_cli
from tests.test_console_access import _cluster
from ussd_app import appkeys

NUMBER = "+260971234567"


async def _login(client, role: str) -> str:
    return await operator_client(client, role, cluster=await _cluster(client) if role == "chair" else None)


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 403), ("chair", 403)])
async def test_the_users_pages_by_role(client, role, status):
    await _login(client, role)
    user = await add_user(client.app, NUMBER)
    assert (await client.get("/console/users")).status == status
    assert (await client.get(f"/console/users/{user.id}")).status == status
    assert (await client.get(f"/console/users/{user.id}?format=csv&table=sms")).status == status


@pytest.mark.parametrize("typed", ["+260971234567", "260971234567", "0971234567", "097 123 4567", "971234567",
                                   "(097) 123-4567", "00260971234567"])
async def test_a_number_as_a_person_types_it_finds_the_user(client, typed):
    await _login(client, "support")
    user = await add_user(client.app, NUMBER)
    resp = await client.get("/console/users", params={"number": typed}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == f"/console/users/{user.id}"


@pytest.mark.parametrize("typed, status, line", [
    ("0961234567", 200, "No user has that number."),
    ("hello", 400, "is not a phone number we serve"),
    ("+447911123456", 400, "is not a phone number we serve"),
])
async def test_a_search_that_finds_nobody_says_so(client, typed, status, line):
    await _login(client, "support")
    await add_user(client.app, NUMBER)
    resp = await client.get("/console/users", params={"number": typed})
    assert resp.status == status and line in await resp.text()


async def test_the_profile_shows_what_they_did_and_what_we_told_them(client):
    await _login(client, "support")
    user = await add_user(client.app, NUMBER, name="Mwila Banda", language="bem")
    db = client.app[appkeys.DB]
    await wallet.credit(db, "test:credit", user, user.currency, 12_345, "pilot",
                        receipt=lambda entry: f"You got K123.45 (ref {entry})")
    reference = await add_payment(client.app, user, "succeeded", provider="airtel")
    async with db() as s, s.begin():
        s.add(MarketOrder(request_key=uuid.uuid4().hex, currency="ZMW", user_id=user.id, side="sell", price=150,
                          wh=2_000, remaining_wh=500, escrow=500, state="open"))
        cluster = Cluster(code="KBW12", name="Kabwata", kind="micro", area="Lusaka", currency="ZMW", target=10_000,
                          open=True)
        s.add(cluster)
        await s.flush()
        s.add(Membership(cluster_id=cluster.id, user_id=user.id, role="member", status="active", contributed=2_500))
    page = await (await client.get(f"/console/users/{user.id}")).text()
    for shown in (NUMBER, "Mwila Banda", "Ichibemba", "K123.45", "Credit", reference, "Kabwata", "2.0 kWh",
                  "K1.50/kWh", "No wrong PINs counted"):
        assert shown in page, shown
    sms = await client.get(f"/console/users/{user.id}?format=csv&table=sms")
    [receipt] = list(csv.DictReader(io.StringIO(await sms.text())))
    assert receipt["kind"] == "receipt" and receipt["text"].startswith("You got K123.45")
    history = list(csv.DictReader(io.StringIO(await (await client.get(
        f"/console/users/{user.id}?format=csv&table=history")).text())))
    assert [(r["what"], r["amount"]) for r in history] == [("Credit", "'+K123.45")]


async def test_an_unknown_profile_is_a_404(client):
    await _login(client, "admin")
    for path in ("/console/users/999999", "/console/users/abc"):
        assert (await client.get(path)).status == 404


async def _lock(client, user: User) -> None:
    async with client.app[appkeys.DB]() as s, s.begin():
        await s.execute(update(User).where(User.id == user.id)
                        .values(pin_failures=3, pin_locked_until=outbox.now() + timedelta(minutes=30)))


@pytest.mark.parametrize("role", ["admin", "support"])
async def test_unlock_clears_the_lock_once_audited(client, role):
    csrf = await _login(client, role)
    user = await add_user(client.app, NUMBER)
    await _lock(client, user)
    assert "locked</b> until" in await (await client.get(f"/console/users/{user.id}")).text()
    answers = []
    for _ in range(2):
        resp = await client.post(f"/console/users/{user.id}/unlock", data={"csrf": csrf}, allow_redirects=False)
        assert resp.status == 303
        answers.append(await (await client.get(resp.headers["Location"])).text())
    assert "PIN unlocked" in answers[0] and "Nothing to unlock" in answers[1]
    async with client.app[appkeys.DB_READ]() as s:
        row = (await s.execute(select(User.pin_failures, User.pin_locked_until).where(User.id == user.id))).one()
    assert tuple(row) == (0, None)
    [entry] = await audit_rows(client.app, "pin.unlock")
    assert entry.actor == f"{role}@example.com" and entry.target == f"user:{user.id}"
    assert json.loads(entry.before)["pin_failures"] == 3 and json.loads(entry.after) == {
        "pin_failures": 0, "pin_locked_until": None}


@pytest.mark.parametrize("role, path", [("viewer", "unlock"), ("viewer", "reset"), ("chair", "unlock")])
async def test_pin_actions_are_refused_to_other_roles(client, role, path):
    csrf = await _login(client, role)
    user = await add_user(client.app, NUMBER)
    await _lock(client, user)
    resp = await client.post(f"/console/users/{user.id}/{path}", data={"csrf": csrf, "note": "x", "force": "yes"},
                             allow_redirects=False)
    assert resp.status == 403
    assert await audit_rows(client.app, "pin.unlock") == [] and await audit_rows(client.app, "pin.reset") == []


@pytest.mark.parametrize("path", ["unlock", "reset"])
async def test_pin_actions_want_the_csrf_token(client, path):
    await _login(client, "admin")
    user = await add_user(client.app, NUMBER)
    await _lock(client, user)
    resp = await client.post(f"/console/users/{user.id}/{path}", data={"note": "x", "force": "yes"},
                             allow_redirects=False)
    assert resp.status == 403 and await audit_rows(client.app, f"pin.{path}") == []


@pytest.mark.parametrize("note", ["", "   ", "x" * 201])
async def test_a_reset_needs_an_identity_note(client, note):
    csrf = await _login(client, "support")
    user = await add_user(client.app, NUMBER)
    resp = await client.post(f"/console/users/{user.id}/reset", data={"csrf": csrf, "note": note, "force": "yes"},
                             allow_redirects=False)
    assert resp.status == 400 and (await resp.text()).count("\n") == 1
    assert await audit_rows(client.app, "pin.reset") == []


async def _reset_sms(client, user: User) -> int:
    async with client.app[appkeys.DB_READ]() as s:
        return await s.scalar(select(func.count()).select_from(SmsOutbox)
                              .where(SmsOutbox.msisdn == user.msisdn, SmsOutbox.kind == "pin-reset-issued"))


async def test_a_reset_without_a_request_wants_issue_anyway(client):
    csrf = await _login(client, "support")
    user = await add_user(client.app, NUMBER)
    resp = await client.post(f"/console/users/{user.id}/reset", data={"csrf": csrf, "note": "called back"})
    assert resp.status == 200 and "have not asked for a reset" in await resp.text()
    assert await audit_rows(client.app, "pin.reset") == [] and await _reset_sms(client, user) == 0


@pytest.mark.parametrize("asked, form", [(True, {}), (False, {"force": "yes"})])
async def test_a_reset_is_issued_once_audited_with_its_note(client, asked, form):
    csrf = await _login(client, "support")
    user = await add_user(client.app, NUMBER)
    if asked:
        await pin_resets.ask(client.app[appkeys.DB], user.id, lambda u, until: "asked")
    data = {"csrf": csrf, "note": "called back; name and last deposit matched", **form}
    answers = []
    for _ in range(2):
        resp = await client.post(f"/console/users/{user.id}/reset", data=data, allow_redirects=False)
        assert resp.status == 303
        answers.append(await (await client.get(resp.headers["Location"])).text())
    assert "Reset issued" in answers[0] and "issued already" in answers[1]
    assert "Open reset: <b>issued</b>" in answers[1]
    [entry] = await audit_rows(client.app, "pin.reset")
    after = json.loads(entry.after)
    assert entry.actor == "support@example.com" and entry.target == f"user:{user.id}"
    assert after["note"] == "called back; name and last deposit matched" and after["forced"] is (not asked)
    assert json.loads(entry.before)["reset"] == ("requested" if asked else None)
    assert await _reset_sms(client, user) == 1


async def test_the_cli_pin_reset_is_audited_as_cli(client, cli_env):
    user = await add_user(client.app, NUMBER)
    argv = ["pin", "reset", NUMBER, "--force", "--note", "met at the office"]
    assert (await run_cli(*argv))[0] == 0
    assert (await run_cli(*argv))[0] == 0            # a repeat: nothing changes, no second row
    [entry] = await audit_rows(client.app, "pin.reset")
    assert entry.actor == "cli" and entry.target == f"user:{user.id}"
    assert json.loads(entry.after)["note"] == "met at the office"


@hypothesis_settings(max_examples=200, deadline=None)
@given(country=st.sampled_from([("260", ["97", "96", "95", "77", "76"]), ("255", ["71", "74", "75", "76", "78",
                                                                             "68", "69", "65", "67", "62"])]),
       data=st.data())
def test_every_way_of_typing_a_number_finds_it(country, data):
    code, networks = country
    national = data.draw(st.sampled_from(networks)) + data.draw(st.text("0123456789", min_size=7, max_size=7))
    e164 = f"+{code}{national}"
    try:
        parse_msisdn(e164)
    except ValueError:
        return                                           # not a number libphonenumber calls valid
    for exact in (e164, code + national, f"00{code}{national}", f"+{code} {national[:2]} {national[2:]}"):
        assert [m.e164 for m in as_typed(exact)] == [e164], exact
    for national_form in ("0" + national, national, f"0{national[:2]}-{national[2:5]}-{national[5:]}"):
        assert e164 in [m.e164 for m in as_typed(national_form)], national_form


# -- an admin's energy credit for a pilot (its attacks: tests/test_console_credit.py) ----------------------

async def test_an_admin_credits_energy_once_however_often_the_form_is_sent(client):
    user = await add_user(client.app, "+260971830001", "Pilot")
    csrf = await operator_client(client, "admin")
    key = form_key_in(await (await client.get(f"/console/users/{user.id}")).text())
    for done in ("credited", "credit-repeat"):                   # the same form sent twice
        resp = await client.post(f"/console/users/{user.id}/credit", allow_redirects=False,
                                 data={"csrf": csrf, "key": key, "wh": "2500", "reason": "pilot Kanyama"})
        assert resp.status == 303 and resp.headers["Location"].endswith(f"done={done}")
    async with client.app[appkeys.DB_READ]() as s:
        energy = await ledger.user_energy(s, user.id)
        assert energy.balance == 2500 and await ledger.verify(s) == []
    [row] = await audit_rows(client.app, "ledger.credit")
    assert row.actor == "admin@example.com" and '"amount": 2500' in row.after


@pytest.mark.parametrize("role, form, status", [
    ("support", {"wh": "100", "reason": "pilot"}, 403),
    ("admin", {"wh": "0", "reason": "pilot"}, 400),
    ("admin", {"wh": "100001", "reason": "pilot"}, 400),
    ("admin", {"wh": "1.5", "reason": "pilot"}, 400),
    ("admin", {"wh": "\u00b2", "reason": "pilot"}, 400),                   # a digit to isdigit(), not to int()
    ("admin", {"wh": "100", "reason": "  "}, 400),
    ("admin", {"wh": "100", "reason": "pilot", "key": "x"}, 400),
])
async def test_a_credit_that_is_not_allowed_moves_nothing(client, role, form, status):
    user = await add_user(client.app, "+260971830002", "Pilot")
    csrf = await operator_client(client, role)
    data = {"csrf": csrf, "key": "k" * 16, **form}
    resp = await client.post(f"/console/users/{user.id}/credit", data=data, allow_redirects=False)
    assert resp.status == status and (await resp.text()).count("\n") == 1
    assert await audit_rows(client.app, "ledger.credit") == []


@pytest.mark.parametrize("path", ["/console/users/\u00b2", "/console/payments?page=\u00b2", "/console/sms?page=\u00b2"])
async def test_unicode_digits_are_a_4xx_not_a_5xx(client, path):
    await operator_client(client, "admin")
    resp = await client.get(path)
    assert 400 <= resp.status < 500 and (await resp.text()).count("\n") == 1
