"""The operator CLI on bad input: one line and an exit code (2: the command line is wrong; 1: no such thing,
or the database is not there), never a traceback; and what QA reads from it (outbox texts, sandbox hints)."""
from __future__ import annotations

import asyncio
import contextlib
import io
import re
import subprocess
import sys

import pytest

from tests.test_sms_webhooks import sms
from tests.test_wallet import register
from ussd_app import cli

ZM = "+260971810001"
E164 = "use E.164 like +260971234567"


def enerlectra(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `enerlectra ARGV`, run here as the console script runs it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:                # argparse, or a command's own one-line refusal
            code = exc.code if isinstance(exc.code, int) else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    return code, out.getvalue(), err.getvalue()


async def run_cli(*argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(enerlectra, *argv)    # the commands run their own event loop


def assert_one_line(code: int, out: str, err: str, expected_code: int, says: str) -> None:
    assert "Traceback" not in out + err, err
    assert code == expected_code, (code, out, err)
    lines = (err or out).strip().splitlines()          # `payments resolve` answers on stdout
    assert says in lines[-1], err
    message = [line for line in lines if not line.startswith(("usage:", " "))]   # argparse adds its usage
    assert len(message) == 1, err


BAD_ARGS = [
    (("energy", "credit", "0962000000", "100", "--reason", "pilot"), 2, E164),
    (("energy", "credit", "260971810001", "100", "--reason", "pilot"), 2, E164),
    (("energy", "credit", "+14155550100", "100", "--reason", "pilot"), 2, E164),        # not served
    (("ledger", "credit", "0962000000", "10", "--reason", "pilot"), 2, E164),
    (("meter", "add", "0962", "S1", "--export-wh", "0", "--import-wh", "0"), 2, E164),
    (("sms", "outbox", "--to", "0962"), 2, E164),
    (("energy", "credit", ZM, "-5", "--reason", "pilot"), 2, "a whole number from 1"),
    (("energy", "credit", ZM, "1.5", "--reason", "pilot"), 2, "a whole number from 1"),
    (("ledger", "credit", ZM, "abc", "--reason", "pilot"), 2, "amount 'abc'"),
    (("ledger", "credit", ZM, "-3", "--reason", "pilot"), 2, "amount '-3'"),
    (("ledger", "credit", ZM, "1.5", "--energy", "--reason", "pilot"), 2, "Wh is a whole number"),
    (("ledger", "credit", ZM, "0", "--energy", "--reason", "pilot"), 2, "Wh must be more than zero"),
    (("ledger", "credit", "+260971819999", "10", "--reason", "pilot"), 1, "+260971819999 is not registered"),
    (("energy", "credit", "+255754819999", "10", "--reason", "pilot"), 1, "+255754819999 is not registered"),
    (("payments", "resolve", "NOPE", "paid"), 1, "no payment has reference 'NOPE'"),
    (("payments", "review", "--limit", "0"), 2, "a whole number from 1"),
    (("meter", "flagged", "--limit", "-1"), 2, "a whole number from 1"),
    (("sms", "outbox", "--limit", "x"), 2, "a whole number from 1"),
    (("advisor", "usage", "--days", "100000000"), 2, "a whole number from 1 to 3650"),
    (("advisor", "usage", "--days", "-1"), 2, "a whole number from 1 to 3650"),
    (("meter", "add", ZM, "S1", "--export-wh", "-1", "--import-wh", "0"), 2, "a whole number from 0"),
    (("meter", "add", ZM, "S1", "--export-wh", "0", "--import-wh", "0", "--secret-file", "/no/such/file"), 2,
     "/no/such/file: No such file or directory"),
    (("ledger", "verify", "--anchor", "junk"), 2, "not a ledger anchor"),
    (("db", "upgrade", "nope"), 2, "Can't locate revision identified by 'nope'"),
    (("serve", "--port", "70000"), 2, "a whole number from 1 to 65535"),
]


@pytest.mark.parametrize("argv, expected_code, says", BAD_ARGS, ids=[" ".join(a[0][:3]) for a in BAD_ARGS])
async def test_bad_arguments_get_one_line_and_an_exit_code(client, cli_env, argv, expected_code, says):
    await register(client, ZM, "Mapalo")
    assert_one_line(*await run_cli(*argv), expected_code, says)


async def test_a_good_credit_still_works(client, cli_env):
    await register(client, ZM, "Mapalo")
    code, out, err = await run_cli("energy", "credit", ZM, "1500", "--reason", "pilot")
    assert (code, err) == (0, "") and "credited 1.5 kWh to +260971810001 (pilot)" in out


READS = [("sms", "outbox"), ("ledger", "verify"), ("ledger", "anchor"), ("payments", "review"),
         ("payments", "resolve", "P1", "paid"), ("meter", "flagged"), ("advisor", "usage"),
         ("energy", "credit", ZM, "10", "--reason", "pilot")]


@pytest.mark.parametrize("argv", READS, ids=[" ".join(a[:2]) for a in READS])
def test_a_database_not_upgraded_gets_one_line(tmp_path, monkeypatch, argv):
    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3")   # never upgraded
    monkeypatch.delenv("ENERLECTRA_DB_SCHEMA", raising=False)
    assert_one_line(*enerlectra(*argv), 1, "run `enerlectra db upgrade` first")


@pytest.mark.parametrize("argv", READS[:3], ids=[" ".join(a[:2]) for a in READS[:3]])
def test_an_unreachable_database_gets_one_line(tmp_path, monkeypatch, argv):
    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/enerlectra")
    code, out, err = enerlectra(*argv)
    assert_one_line(code, out, err, 1, "(the database is postgresql+asyncpg://postgres:***@127.0.0.1:1/")
    assert "s3cret" not in out + err


@pytest.mark.parametrize("content, argv, code, says", [
    ("x: [\n", (), 2, "not YAML: while parsing a flow node"),
    (None, (), 2, "No such file or directory"),
    ("steps:\n  - dial: '*123#'\n", ("--url", "http://127.0.0.1:9"), 1, "Cannot connect to host 127.0.0.1:9"),
])
def test_sim_run_on_a_bad_journey_or_server_gets_one_line(tmp_path, content, argv, code, says):
    journey = tmp_path / "journey.yaml"
    if content is not None:
        journey.write_text(content)
    assert_one_line(*enerlectra("sim", "run", str(journey), *argv), code, says)


@pytest.mark.parametrize("url", ["nonsense", "mysql://root:s3cret@db/enerlectra"])
def test_a_database_url_we_cannot_use_gets_one_line(tmp_path, monkeypatch, url):
    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)
    code, out, err = enerlectra("sms", "outbox")
    assert_one_line(code, out, err, 2, "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
    assert "s3cret" not in out + err


def test_an_unreachable_redis_gets_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret@127.0.0.1:1/0")
    code, out, err = enerlectra("worker", "--burst")
    assert_one_line(code, out, err, 1, "enerlectra: Redis redis://:***@127.0.0.1:1/0: Error 111 connecting")
    assert "s3cret" not in out + err


def test_the_console_script_prints_no_traceback_for_a_national_number(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ussd_app.cli", "energy", "credit", "0962000000", "100",
                           "--reason", "pilot"], capture_output=True, text=True, timeout=60,
                          env={"ENERLECTRA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(
        "'0962000000': use E.164 like +260971234567 (Zambia) or +255754123456 (Tanzania)")


async def test_sms_outbox_shows_each_text(client, cli_env):
    await register(client, ZM, "Mapalo")
    await client.post("/sms/africastalking/inbound", data=sms("BAL", sender=ZM))
    code, out, err = await run_cli("sms", "outbox", "--to", ZM)
    header, *rows = out.splitlines()
    assert code == 0 and header.split()[-1] == "text"
    assert any(row.endswith("Enerlectra balance: K0.00. Energy: 0.0 kWh.") for row in rows), out


def options(command: str) -> set[str]:
    parser = cli.build_parser()._subparsers._group_actions[0].choices[command]
    return {flag for action in parser._actions for flag in action.option_strings}


def sim_options() -> set[str]:
    return options("sim")


@pytest.mark.parametrize("name", ["mtn", "airtel", "pawapay", "azampay", "claude", "at"])
def test_what_serve_says_about_a_sandbox_names_only_real_sim_flags(name):
    line = cli.sandbox_line(name, "http://127.0.0.1:5000")
    named = set(re.findall(r"--[a-z]+-url", line))
    assert named <= sim_options(), line
    assert ("--claude-url" not in line) and (bool(named - {"--url"}) == (name in cli.SIM_FLAGS)), line


async def test_sim_with_url_says_where_sms_go_instead_of_an_empty_inbox(client, cli_env):
    from simulator.handset import NO_INBOX, Handset
    from simulator.phone import Phone
    from simulator.transport import connect

    await register(client, ZM, "Mapalo")
    said: list[str] = []
    async with connect(str(client.make_url("")).rstrip("/")) as transport:
        handset = Handset(Phone(transport, ZM, "*123#"), out=said.append)
        await handset.handle("sms BAL")
        await handset.handle("inbox")
    assert said[-1] == NO_INBOX and "(no SMS yet)" not in said
    assert "enerlectra sms outbox --to NUMBER" in NO_INBOX and "--at-url" in NO_INBOX
    assert "--at-url" in sim_options() and "--fake-at" in options("serve")


def readme_block(heading: str) -> str:
    """The first ```sh block under `heading` in the README, as written."""
    from pathlib import Path

    text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


async def test_the_readme_drives_a_deposit_through_the_mtn_sandbox_with_curl(settings):
    import os

    from simulator.transport import connect

    script = readme_block("### Payment sandboxes over HTTP")
    async with connect(settings=settings) as transport:
        env = {"PATH": os.environ["PATH"], "APP": transport.base, "MTN": transport.sandboxes["mtn"],
               "PHONE": "+260961810001"}
        done = await asyncio.to_thread(subprocess.run, ["bash", "-euo", "pipefail", "-c", script], env=env,
                                       capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Approve the prompt on your phone" in done.stdout, done.stdout
        assert '"status": "SUCCESSFUL"' in done.stdout and '{"pending": ["payout_fail"]}' in done.stdout
        wallet = done.stdout.split('{"pending": ["payout_fail"]}', 1)[1].lstrip()      # the last screen
        assert wallet.startswith("CON Money: K50.00"), done.stdout


@pytest.mark.parametrize("path, body, status, says", [
    ("/sim/decide", "not json", 400, '{"reference": "...", "approve": true}'),
    ("/sim/decide", '{"approve": true}', 400, '{"reference": "...", "approve": true}'),
    ("/sim/decide", '{"reference": "nope", "approve": true}', 404, "no prompt has reference 'nope'"),
    ("/sim/fail", "[]", 400, '{"mode": "payout_fail", "count": 1}'),
    ("/sim/fail", '{"mode": "http500", "count": "x"}', 400, '{"mode": "payout_fail", "count": 1}'),
])
@pytest.mark.parametrize("sandbox", ["mtn", "airtel", "pawapay", "azampay"])
async def test_a_bad_sandbox_control_gets_one_line(sandbox, path, body, status, says):
    import aiohttp

    from enerlectra.settings import Settings
    from payments.sandboxes import local as local_payments

    _settings, boxes = local_payments.plan(Settings(public_base_url="http://127.0.0.1:9"))
    [box] = [b for b in boxes if b.name == sandbox]
    async with local_payments.serving([box]), aiohttp.ClientSession() as http:
        async with http.post(box.url + path, data=body, headers={"Content-Type": "application/json"}) as resp:
            assert (resp.status, says in (await resp.json())["error"]) == (status, True)
