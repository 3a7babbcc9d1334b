"""No secret in the clear: PINs, the webhook token and the database password never reach a log line, the
access log or a stored row (issue 14, item 9).

Tables for the pure functions (enerlectra.redact, sms.masking, the start-up line); journeys through the running
app with WEBHOOK_TOKEN set, every log record at DEBUG captured and searched; and `enerlectra serve` itself,
its whole output searched.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from importlib import resources
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import make_url, select, text

from enerlectra.db.engine import make_engine, make_sessionmaker
from enerlectra.db.models import SmsInbound, UssdSessionEvent
from enerlectra.redact import mask_input, redact_path, redact_url
from enerlectra.settings import Settings
from payments.setup import callback_url
from simulator.fake_at import report_url
from simulator.journeys import Journey, Step, load_journey, run_journey
from simulator.transport import HttpTransport, Operator, connect
from sms.commands import aliases
from sms.masking import stored_text
from tests.jobs import run_jobs
from ussd_app import access_log, appkeys
from ussd_app.app import create_app
from ussd_app.cli import open_webhooks_warning, startup_line

JOURNEYS = Path(str(resources.files("simulator") / "journeys"))
# The journeys replayed below and the PINs typed in them (each checked to be in its file).
JOURNEY_PINS = {"send_money": ("5820", "2864"), "market_sms": ("5821", "1111"), "deposit": ("6248",)}


# -- mask_input --------------------------------------------------------------------------------------------

M = "****"


@pytest.mark.parametrize("path, positions, expected", [
    ("1*Bupe*2864*2864", None, f"1*Bupe*{M}*{M}"),
    ("1*Bupe*2864*2864", {2, 3}, f"1*Bupe*{M}*{M}"),
    ("2*0971000202*25.50*2864", None, f"2*0971000202*25.50*{M}"),      # phone number and amount kept
    ("2*0971000202*1000*2864", None, f"2*0971000202*{M}*{M}"),         # a PIN-shaped amount is hidden too
    ("2*0971000202*1000*2864", {3}, f"2*0971000202*1000*{M}"),         # steps known: only the PIN
    ("3*12345*987", None, "3*12345*987"),                               # not exactly four digits
    ("1* 5820 *x", None, f"1*{M}*x"),                                   # spaces around a PIN
    ("1*x*2*9", {0, 2}, f"{M}*x*{M}*9"),                                # a secret step of any shape
    ("1*x", {5}, "1*x"),                                                # a position past the end
    ("", None, ""),
    ("", {0}, ""),                                                      # nothing typed, nothing to hide
    ("1**5820", None, f"1**{M}"),                                       # an empty step stays empty
    ("1*Bupe*2864", set(), "1*Bupe*2864"),                              # the engine says: no PIN here
])
def test_mask_input(path, positions, expected):
    assert mask_input(path, positions) == expected


@given(st.lists(st.from_regex(r"[0-9]{4}", fullmatch=True) | st.from_regex(r"[0-9A-Za-z.]{0,6}", fullmatch=True),
                max_size=8))
def test_mask_input_without_positions_hides_exactly_the_four_digit_steps(parts):
    expected = "*".join(M if re.fullmatch(r"[0-9]{4}", part) else part for part in parts)
    assert mask_input("*".join(parts), None) == expected


# -- URLs, paths, the start-up line -----------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("postgresql+asyncpg://app:s3cret@db:5432/enerlectra", "postgresql+asyncpg://app:***@db:5432/enerlectra"),
    ("postgresql+asyncpg://app:p@ss/w:rd@db/enerlectra", "postgresql+asyncpg://app:***@db/enerlectra"),
    ("postgresql+asyncpg://app@db/enerlectra", "postgresql+asyncpg://app@db/enerlectra"),   # no password
    ("postgresql+asyncpg://db/e?user=app&password=s3cret", "postgresql+asyncpg://db/e?user=app&password=***"),
    ("sqlite+aiosqlite:////srv/enerlectra/db.sqlite3", "sqlite+aiosqlite:////srv/enerlectra/db.sqlite3"),
    ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
    ("rediss://default:s3cret@redis:6380/2", "rediss://default:***@redis:6380/2"),
    ("redis://redis:6379/0", "redis://redis:6379/0"),
    ("unix:///run/redis.sock?db=1&password=s3cret", "unix:///run/redis.sock?db=1&password=***"),
    ("mqtt://station:s3cret@broker:1883", "mqtt://station:***@broker:1883"),
    ("https://example.test/cb?token=s3cret&x=1", "https://example.test/cb?token=***&x=1"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    (None, "-"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize("url", ["postgresql+asyncpg://app:s3cret@db:5432/enerlectra",
                                 "postgresql://app:s3cret@db/e", "sqlite+aiosqlite:///x.sqlite3",
                                 "postgresql+asyncpg://app@db/e"])
def test_redact_url_agrees_with_sqlalchemy_for_sql_urls(url):
    assert redact_url(url) == make_url(url).render_as_string(hide_password=True)


@given(password=st.text(min_size=1), scheme=st.sampled_from(["postgresql+asyncpg", "redis", "rediss", "mqtt"]))
def test_any_password_is_hidden_whole(password, scheme):
    assert redact_url(f"{scheme}://user:{password}@host:1234/db") == f"{scheme}://user:***@host:1234/db"


@pytest.mark.parametrize("path, expected", [
    ("/payments/mtn/callback/s3cret", "/payments/mtn/callback/****"),
    ("/payments/airtel/callback/s%2F3", "/payments/airtel/callback/****"),
    ("/payments/mtn/callback", "/payments/mtn/callback"),          # the old form: its token was in the query
    ("/ussd/africastalking", "/ussd/africastalking"),
    ("/ussd/beem/s3cret", "/ussd/beem/****"),                      # an aggregator's token in the path
    ("/ussd/africastalking/s3cret", "/ussd/africastalking/****"),
    ("/ussd/nosuch/s3cret", "/ussd/nosuch/****"),                  # an unknown aggregator's too
    ("/ussd/africastalking/events", "/ussd/africastalking/events"),
])
def test_redact_path(path, expected):
    assert redact_path(path) == expected


def test_the_start_up_line_hides_passwords():
    settings = Settings(redis_url="redis://:r3dispass@redis:6379/0", webhook_token="t0ken",
                        database_url="postgresql+asyncpg://app:dbpass@db:5432/enerlectra",
                        at_api_base_url="https://u:atpass@at.example", anthropic_api_key="k",
                        anthropic_base_url="https://u:clpass@claude.example")
    line = startup_line(settings)
    assert "postgresql+asyncpg://app:***@db:5432/enerlectra" in line and "redis://:***@redis:6379/0" in line
    assert not {"r3dispass", "dbpass", "atpass", "clpass", "t0ken"} & set(re.split(r"[^A-Za-z0-9]+", line))


@pytest.mark.parametrize("host, token, warns", [
    ("127.0.0.1", None, False),
    ("localhost", None, False),
    ("::1", None, False),
    ("0.0.0.0", None, True),
    ("10.1.2.3", None, True),
    ("ussd.example.com", None, True),
    ("0.0.0.0", "s3cret", False),
])
def test_serve_warns_when_webhooks_are_open_beyond_loopback(host, token, warns):
    warning = open_webhooks_warning(Settings(host=host, webhook_token=token))
    assert (warning is not None) == warns
    if warns:
        assert "WEBHOOK_TOKEN" in warning and host in warning


# -- inbound SMS as stored --------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, stored", [
    ("YES 5821", "YES ****"),
    ("yes 5821", "yes ****"),
    ("NDIYO 5821", "NDIYO ****"),       # Swahili
    ("INDE 5821", "INDE ****"),         # Nyanja
    ("EE 5821", "EE ****"),             # Bemba
    ("Ee  5821 ", "Ee  **** "),
    ("YES 58210", "YES ****"),          # a mistyped PIN is hidden too
    ("YES 5821 please", "YES **** please"),
    ("YES 12", "YES ****"),             # a vote: its number is kept by the vote itself
    ("YES5821", "YES****"),             # not understood: PIN-shaped runs masked
    ("5821", "****"),
    ("BUY 3", "BUY 3"),                 # no PIN in other commands: kept as sent
    ("SELL 4 1.20", "SELL 4 1.20"),
    ("ALERT 1500", "ALERT 1500"),
    ("VOTE 12 YES", "VOTE 12 YES"),
    ("HELP", "HELP"),
    ("", ""),
])
def test_stored_sms_text(sent, stored):
    assert stored_text(sent) == stored


def test_every_alias_of_a_pin_command_is_in_the_table_above():
    assert {word for word, command in aliases().items() if command.takes_pin} == {"YES", "NDIYO", "INDE", "EE"}


# -- the callback token in the path -----------------------------------------------------------------------

@pytest.mark.parametrize("token, path, query, headers, allowed", [
    ("s3cret", "/payments/mtn/callback/s3cret", {}, {}, True),
    ("s3cret", "/payments/mtn/callback/wrong", {}, {}, False),
    ("s3cret", "/payments/mtn/callback", {}, {}, False),
    ("s3cret", "/payments/mtn/callback", {"token": "s3cret"}, {}, True),        # the old form, still accepted
    ("s3cret", "/payments/mtn/callback", {}, {"X-Webhook-Token": "s3cret"}, True),
    ("s3cret", "/payments/mtn/callback/wrong", {"token": "s3cret"}, {}, False),   # the path one is checked
    ("a/b+c d%", None, {}, {}, True),                                          # as callback_url writes it
    (None, "/payments/mtn/callback", {}, {}, True),                             # no token configured
])
async def test_callbacks_carry_the_token_in_the_path(aiohttp_client, settings, token, path, query, headers,
                                                    allowed):
    settings = settings.with_(webhook_token=token, public_base_url="")
    client = await aiohttp_client(create_app(settings))
    path = path or callback_url(settings.with_(public_base_url="http://x"), "mtn").removeprefix("http://x")
    resp = await client.post(path, params=query, headers=headers, data=b"{}")
    assert (resp.status != 403) == allowed, (resp.status, await resp.text())
    assert resp.status in ((404, 400) if allowed else (403,))     # no sandbox configured: "unknown provider"


# -- journeys through the running app, every log line searched ---------------------------------------------

def _with_password(url: str, password: str) -> str:
    """The test database URL with a password in it (the local PostgreSQL trusts, so any password works)."""
    parsed = make_url(url)
    return parsed.set(password=password).render_as_string(hide_password=False) if parsed.host else url


def _leaks(text_: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text_` as whole words (a PIN inside a longer number or an id is not a PIN)."""
    return [s for s in secrets if re.search(rf"(?<![0-9A-Za-z]){re.escape(s)}(?![0-9A-Za-z])", text_)]


@contextlib.asynccontextmanager
async def running_app(aiohttp_client, settings, fake_at):
    """The app as `serve` runs it (our access log), the local sandboxes calling back with the token in the path,
    SMS through the fake AT; queued jobs run after every action. Yields (transport, test client)."""
    from enerlectra.ports import free_port
    from payments.sandboxes import local as local_payments

    port = free_port()
    settings, sandboxes = local_payments.plan(settings.with_(public_base_url=f"http://127.0.0.1:{port}"))
    async with local_payments.serving(sandboxes):
        server = TestServer(create_app(settings), port=port)
        await server.start_server(**access_log.RUNNER_KWARGS)           # the runner `serve` builds
        client = await aiohttp_client(server)
        fake_at[0].report_url = report_url(str(client.make_url("")), settings.webhook_token)

        async def settle() -> None:
            await run_jobs(settings)
        yield HttpTransport(str(client.make_url("")), settings.webhook_token, client.session, at_url=fake_at[1],
                            settle=settle, operator=Operator(client.app[appkeys.DB]),
                            sandboxes={box.name: box.url for box in sandboxes}), client


async def _sql_error_with_a_pin(client, transport: HttpTransport, msisdn: str, pin: str) -> None:
    """`YES <PIN>` while sms_inbound cannot be written: the error and its traceback reach the log."""
    db = client.app[appkeys.DB]
    async with db() as s, s.begin():
        await s.execute(text("ALTER TABLE sms_inbound RENAME TO sms_inbound_away"))
    try:
        resp = await client.post("/sms/africastalking/inbound", params=transport.params, data={
            "from": msisdn, "to": "21212", "text": f"YES {pin}", "id": f"ATXid_{uuid.uuid4().hex}"})
        assert resp.status == 500
    finally:
        async with db() as s, s.begin():
            await s.execute(text("ALTER TABLE sms_inbound_away RENAME TO sms_inbound"))


async def test_no_pin_token_or_password_in_logs_or_rows(aiohttp_client, at_settings, fake_at, caplog):
    token, db_password = f"tok{uuid.uuid4().hex}", f"pw{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")       # every statement, its parameters, rows
    settings = at_settings.with_(webhook_token=token,
                                 database_url=_with_password(at_settings.database_url, db_password))
    pins = [pin for name, typed in JOURNEY_PINS.items() for pin in typed]
    async with running_app(aiohttp_client, settings, fake_at) as (transport, client):
        for name, typed in JOURNEY_PINS.items():
            assert all(pin in (JOURNEYS / f"{name}.yaml").read_text() for pin in typed)
            outcome = await run_journey(load_journey(JOURNEYS / f"{name}.yaml"), transport)
            assert outcome.ok, outcome.message
        resp = await client.post("/ussd/africastalking/events", params=transport.params, data={
            "sessionId": "ATUid_secrets", "phoneNumber": "+260961000203", "status": "Success",
            "input": "1*Bupe*2864*2864*2*0971000202*25.50*2864", "hopsCount": "8"})
        assert resp.status == 200
        await _sql_error_with_a_pin(client, transport, "+260971000722", "5821")
        async with client.app[appkeys.DB]() as s:
            event = await s.scalar(select(UssdSessionEvent).where(UssdSessionEvent.session_id == "ATUid_secrets"))
            inbound = (await s.scalars(select(SmsInbound.text))).all()
    assert event.input == f"1*Bupe*{M}*{M}*2*0971000202*25.50*{M}"
    assert f"YES {M}" in inbound and _leaks("\n".join(inbound), pins) == []
    lines = [logging.Formatter("%(name)s %(levelname)s %(message)s").format(r) for r in caplog.records]
    logged = "\n".join(lines)
    assert f"/payments/mtn/callback/{M}" in logged, "the MTN sandbox called back, with the token in the path"
    assert re.search(r'aiohttp.access INFO .*"POST /ussd/africastalking HTTP', logged), "the access log was seen"
    assert not re.search(r'HTTP/1\.1" 403 ', logged), "every webhook call (AT, sandboxes) carried the token"
    assert [line for line, r in zip(lines, caplog.records) if r.levelno >= logging.ERROR
            and "sms_inbound" in line and "parameters hidden" in line], "the SQL error, logged without parameters"
    assert _leaks(logged, pins + [token, db_password]) == []


# -- `enerlectra serve` itself ----------------------------------------------------------------------------

async def _until_up(base: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert proc.poll() is None, "serve exited early"
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("serve did not come up")


def _serve(settings: Settings, port: int, token: str, database_url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("WEBHOOK_TOKEN", "DATABASE_URL")} | settings.worker_env()
    env |= {"HOST": "127.0.0.1", "PORT": str(port), "WEBHOOK_TOKEN": token, "DATABASE_URL": database_url,
            "LOG_LEVEL": "DEBUG", "ENERLECTRA_HOME": str(settings.home)}
    return subprocess.Popen([sys.executable, "-m", "ussd_app.cli", "serve"], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> str:
    """Ctrl-C, as an operator stops it (the whole group if it hangs); everything it printed."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)[0].decode()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()[0].decode()


async def test_serve_prints_no_pin_token_or_password(settings):
    from enerlectra.ports import free_port

    token, db_password, pin, port = f"tok{uuid.uuid4().hex}", f"pw{uuid.uuid4().hex}", "7394", free_port()
    database_url = _with_password(settings.database_url, db_password)
    proc = _serve(settings, port, token, database_url)
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_up(base, proc)
        async with connect(base, token) as transport:
            outcome = await run_journey(Journey("register", "+260971000931", (
                Step("dial", ""), Step("send", "1"), Step("send", "Mwila"), Step("send", pin),
                Step("send", pin, contains=("Mwila",)))), transport)
            assert outcome.ok, outcome.message
            await transport.send_sms("+260971000931", f"YES {pin}")
            async with transport._client.post(f"{base}/payments/mtn/callback/{token}", data=b"{}") as resp:
                assert resp.status == 400              # a body no provider would send; the token was right
    finally:
        output = _stop(proc)
    assert "USSD webhook:" in output and '"POST /ussd/africastalking HTTP/1.1" 200' in output, output
    assert f'"POST /payments/mtn/callback/{M} HTTP/1.1" 400' in output, output
    assert "WEBHOOK_TOKEN is not set" not in output
    if db_password in database_url:
        assert make_url(database_url).render_as_string(hide_password=True) in output
    assert _leaks(output, [pin, token, db_password]) == [], output
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with make_sessionmaker(engine)() as s:
            assert (await s.scalars(select(SmsInbound.text))).all() == [f"YES {M}"]
    finally:
        await engine.dispose()


async def test_sql_logs_never_show_bound_values(database, caplog):
    """Our engines at the most verbose: SQLAlchemy's statement log and the driver's own debug log."""
    url, schema = database
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    secret = f"pin{uuid.uuid4().hex}"
    engine = make_engine(url, schema=schema)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT length(:secret)"), {"secret": secret}) == len(secret)
            with pytest.raises(Exception) as failed:
                await conn.execute(text("INSERT INTO no_such_table VALUES (:secret)"), {"secret": secret})
    finally:
        await engine.dispose()
    assert "SELECT" in caplog.text and secret not in caplog.text
    assert "no_such_table" in str(failed.value) and secret not in str(failed.value)


async def test_the_old_query_form_is_accepted_with_a_warning_that_hides_the_token(aiohttp_client, settings,
                                                                                  caplog):
    token = f"tok{uuid.uuid4().hex}"
    client = await aiohttp_client(create_app(settings.with_(webhook_token=token)))
    resp = await client.post("/payments/mtn/callback", params={"token": token}, data=b"{}")
    assert resp.status == 404                     # past the token check: no MTN sandbox in this app
    assert f"point the provider at http://127.0.0.1:8080/payments/mtn/callback/{M}" in caplog.text
    assert token not in caplog.text


def test_db_upgrade_prints_the_url_without_its_password(database, monkeypatch, capsys):
    from ussd_app.cli import main

    url, schema = database
    with_password = _with_password(url, "pw-db-upgrade")
    monkeypatch.setenv("DATABASE_URL", with_password)
    if schema:
        monkeypatch.setenv("ENERLECTRA_DB_SCHEMA", schema)
    assert main(["db", "upgrade"]) == 0
    printed = capsys.readouterr().out
    assert f"database at head: {make_url(with_password).render_as_string(hide_password=True)}" in printed
    assert "pw-db-upgrade" not in printed
