"""The console's door: login, lockout, rate limit, sessions, cookies, CSRF, roles, audit, CSV, the CLI."""
from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select, update

from enerlectra.db.models import AuditEntry, Operator
from tests.console_helpers import PASSWORD, add_operator, csrf_in, log_in, operator_client
from tests.test_cli import run_cli
from ussd_app import appkeys
from ussd_app.app import create_app


async def audit_rows(client, action: str) -> list[AuditEntry]:
    async with client.app[appkeys.DB_READ]() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


@pytest.mark.parametrize("path", ["/console", "/console/me", "/console/audit", "/console/audit?format=csv"])
async def test_a_page_without_a_session_sends_you_to_log_in(client, path):
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/console/login?next=")


async def test_a_post_without_a_session_is_refused_in_one_line(client):
    resp = await client.post("/console/logout", data={"csrf": "x"}, allow_redirects=False)
    assert resp.status == 401 and (await resp.text()).count("\n") == 1


@pytest.mark.parametrize("role, status", [("admin", 200), ("support", 200), ("viewer", 200), ("chair", 403)])
async def test_the_audit_page_by_role(client, role, status):
    await operator_client(client, role, cluster=None if role != "chair" else await _cluster(client))
    resp = await client.get("/console/audit")
    assert resp.status == status


async def _cluster(client) -> str:
    from enerlectra.db.models import Cluster
    async with client.app[appkeys.DB]() as session, session.begin():
        session.add(Cluster(code="K7Q2M", name="Kanyama", kind="micro", area="Lusaka", currency="ZMW",
                            target=10_000, open=True))
    return "K7Q2M"


@pytest.mark.parametrize("password, email, status, message", [
    (PASSWORD, "admin@example.com", 302, None),
    ("wrong password!", "admin@example.com", 403, "Wrong email or password"),
    (PASSWORD, "nobody@example.com", 403, "Wrong email or password"),      # an unknown email says the same
    (PASSWORD, "not an email", 403, "Wrong email or password"),
    ("", "", 403, "Wrong email or password"),
])
async def test_login_answers(client, password, email, status, message):
    await add_operator(client, "admin")
    resp = await log_in(client, email, password)
    assert resp.status == status
    if message:
        assert message in await resp.text()
    else:
        assert resp.headers["Location"] == "/console/overview"


async def test_the_session_cookie_is_httponly_strict_and_secure_only_behind_tls(client):
    await add_operator(client, "viewer")
    resp = await log_in(client, "viewer@example.com")
    cookie = resp.cookies["enx_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    assert cookie["path"] == "/console"


async def test_behind_a_trusted_tls_proxy_the_cookie_is_secure(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(trusted_proxies="127.0.0.1/32")))
    await add_operator(client, "viewer")
    page = await client.get("/console/login")
    token = csrf_in(await page.text())
    resp = await client.post("/console/login", data={"csrf": token, "email": "viewer@example.com",
                                                     "password": PASSWORD}, allow_redirects=False,
                             headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert resp.status == 302 and resp.cookies["enx_console"]["secure"]


async def test_wrong_passwords_lock_the_account_and_the_lock_is_audited(aiohttp_client, settings, operator_cli):
    client = await aiohttp_client(create_app(settings.with_(console_login_max_failures=3)))
    await add_operator(client, "admin")
    answers = [(await log_in(client, "admin@example.com", "not the password")).status for _ in range(3)]
    assert answers == [403, 403, 403]
    locked = await log_in(client, "admin@example.com")          # the right password, too late
    assert locked.status == 403 and "locked" in await locked.text()
    assert len(await audit_rows(client, "operator.locked")) == 1
    assert (await operator_cli(["operator", "unlock", "admin@example.com"]))[0] == 0
    assert (await log_in(client, "admin@example.com")).status == 302


@pytest.fixture
def operator_cli(cli_env, monkeypatch):
    """`enerlectra ...` against the test's database, with a cheap KDF; stdin as given."""
    monkeypatch.setenv("CONSOLE_KDF_COST", str(cli_env.console_kdf_cost))

    async def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return await run_cli(*argv)
    return run


async def test_logins_are_limited_per_address(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(console_logins_per_ip=2)))
    answers = [(await log_in(client, "x@example.com", "whatever password")).status for _ in range(3)]
    assert answers == [403, 403, 429]


@pytest.mark.parametrize("next_, landing", [
    ("/console/audit", "/console/audit"),
    ("//evil.example/console/", "/console/overview"),
    ("https://evil.example/", "/console/overview"),
    ("/console/\\evil", "/console/overview"),
])
async def test_after_login_only_our_own_pages_are_followed(client, next_, landing):
    await add_operator(client, "viewer")
    resp = await log_in(client, "viewer@example.com", next_=next_)
    assert resp.headers["Location"] == landing


async def test_the_login_form_wants_its_csrf_token(client):
    await add_operator(client, "viewer")
    resp = await client.post("/console/login", data={"email": "viewer@example.com", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 403 and "enx_console" not in resp.cookies


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_a_post_without_the_sessions_csrf_token_is_refused(client, token):
    await operator_client(client, "admin")
    data = {} if token is None else {"csrf": token}
    resp = await client.post("/console/logout", data=data, allow_redirects=False)
    assert resp.status == 403 and "CSRF" in await resp.text()
    assert (await client.get("/console/me")).status == 200          # still logged in


async def test_logout_ends_the_session(client):
    csrf = await operator_client(client, "support")
    resp = await client.post("/console/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 302
    assert (await client.get("/console/me", allow_redirects=False)).status == 302


async def test_a_session_ends_after_its_hours_and_idles_out(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(console_session_max_hours=0,
                                                            console_session_minutes=7)))
    await operator_client_or_none(client)
    assert (await client.get("/console/me", allow_redirects=False)).status == 302   # max 0 h: over at once
    redis = client.app[appkeys.REDIS]
    keys = [k async for k in redis.scan_iter(f"{settings.redis_prefix}console:s:*")]
    assert keys == []                                   # and its key is gone, not left to idle out


async def operator_client_or_none(client) -> None:
    await add_operator(client, "viewer")
    assert (await log_in(client, "viewer@example.com")).status == 302


async def test_the_idle_time_is_the_redis_ttl(client, settings):
    await operator_client(client, "viewer")
    redis = client.app[appkeys.REDIS]
    [key] = [k async for k in redis.scan_iter(f"{settings.redis_prefix}console:s:*")]
    assert 0 < await redis.ttl(key) <= settings.console_session_minutes * 60
    assert PASSWORD not in (await redis.get(key)).decode()


async def test_a_disabled_operator_is_out_at_once(client):
    await operator_client(client, "admin")
    async with client.app[appkeys.DB]() as session, session.begin():
        await session.execute(update(Operator).values(disabled=True))
    assert (await client.get("/console/me", allow_redirects=False)).status == 302


async def test_a_role_change_applies_at_once(client):
    await operator_client(client, "admin")
    assert (await client.get("/console/audit")).status == 200
    async with client.app[appkeys.DB]() as session, session.begin():
        await session.execute(update(Operator).values(role="chair"))
    assert (await client.get("/console/audit")).status == 403


async def test_the_audit_page_and_its_csv_show_the_changes(client, operator_cli):
    await operator_client(client, "viewer")
    assert (await operator_cli(["operator", "add", "new@example.com", "--role", "support"],
                               stdin="another long password\n"))[0] == 0
    page = await client.get("/console/audit")
    assert "operator.add" in await page.text()
    resp = await client.get("/console/audit?format=csv")
    assert resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    added = [r for r in rows if r["action"] == "operator.add" and "new@example.com" in r["after"]]
    assert len(added) == 1 and added[0]["who"] == "cli" and json.loads(added[0]["after"])["role"] == "support"
    assert (await client.get("/console/audit?format=csv&table=nope")).status == 404


@pytest.mark.parametrize("argv, stdin, code", [
    (["operator", "add", "a@example.com", "--role", "admin"], "long enough password\n", 0),
    (["operator", "add", "a@example.com", "--role", "admin"], "short\n", 1),
    (["operator", "add", "a@example.com", "--role", "chair"], "long enough password\n", 1),   # no cluster
    (["operator", "add", "a@example.com", "--role", "viewer", "--cluster", "K7Q2M"], "long enough password\n", 1),
    (["operator", "add", "not-an-email", "--role", "admin"], "long enough password\n", 1),
    (["operator", "unlock", "nobody@example.com"], "", 1),
])
async def test_operator_add_on_the_command_line(client, operator_cli, argv, stdin, code):
    got, out, err = await operator_cli(argv, stdin)
    assert got == code and (out if code == 0 else err).count("\n") == 1, (out, err)
    assert "Traceback" not in err and "long enough" not in out + err        # the password is never echoed


async def test_a_generated_password_is_printed_once_and_works(client, operator_cli):
    code, out, _err = await operator_cli(["operator", "add", "g@example.com", "--role", "viewer", "--generate"])
    assert code == 0
    password = out.strip().rsplit(" ", 1)[-1]
    assert (await log_in(client, "g@example.com", password)).status == 302
    async with client.app[appkeys.DB_READ]() as session:
        stored = await session.scalar(select(Operator.password_hash))
    assert password not in stored and stored.startswith("scrypt$")
