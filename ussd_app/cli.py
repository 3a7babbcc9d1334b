"""`enerlectra`: the one command operators and QA use."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from datetime import datetime, timezone

from enerlectra.redact import redact_url
from enerlectra.settings import Settings
from ussd_app import cli_errors
from ussd_app.cli_errors import BadArgument


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)


def _use_ledger_key(settings: Settings) -> None:
    """This process seals and verifies the ledger with LEDGER_KEY or HOME/ledger.key (see ledger_key)."""
    from enerlectra.domain import ledger, ledger_key

    try:
        ledger.use_key(ledger_key.load(settings))
    except ledger_key.BadKey as exc:
        raise SystemExit(str(exc)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    if not args.workers and settings.web_workers is not None and not 1 <= settings.web_workers <= 256:
        raise BadArgument(f"WEB_WORKERS={settings.web_workers}: a whole number from 1 to 256 (unset: one per core)")
    workers = args.workers or settings.web_workers or os.cpu_count() or 1
    from ussd_app import processes

    processes.pause_gc()               # until the app is imported and made (_serve resumes it)
    try:
        if workers == 1:
            return _start(settings, args, workers)
        if not processes.port_free(settings.host, settings.port):     # before anything starts: nothing to undo
            raise SystemExit(f"enerlectra: {settings.host}:{settings.port} is in use (another serve?); "
                             f"pick another with --port")
        processes.catch_stop_signals()     # a Ctrl-C during start-up stops cleanly once started (no orphans)
        try:
            return _start(settings, args, workers)
        finally:
            processes.release_stop_signals()
    finally:
        gc.enable()                        # start-up failed before _serve resumed it


def _start(settings: Settings, args: argparse.Namespace, workers: int) -> int:
    """The once-only work (migrations, embedded Redis, sandboxes, rq worker), then the web processes.

    Cold start (issue 18: spawn to the first answered hop within 1 s): importing the app is most of it, so
    the rest runs beside it: a fresh embedded database is migrated in a forked child (the other core), the
    embedded Redis starts in a thread (mostly waiting for the server's first PONG)."""
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    from enerlectra.embedded_redis import resolve_redis_url

    _logging(settings.log_level)
    settings.home.mkdir(parents=True, exist_ok=True)
    _use_ledger_key(settings)                             # an upgrade may seal existing entries (0011)
    migrating = _migrate_aside(settings.effective_database_url) if settings.is_embedded_db else None
    embedded_mode, redis_started = settings.redis_url is None, None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="embedded-redis") as pool:
            redis_started = pool.submit(resolve_redis_url, settings.redis_url, settings.home)
            settings, sandboxes = _plan_sandboxes(settings, args)
            settings, mqtt_embedded = _plan_broker(settings)
            importlib.import_module("ussd_app.app")       # the app's own imports, while the others work
        url, embedded = redis_started.result()
        settings = settings.with_(redis_url=url)
        _migrated(migrating)                              # embedded SQLite is always at head before a hop
    except BaseException:
        _undo_start(redis_started, migrating)
        from payments.sandboxes import local as local_payments

        local_payments.forget(settings)                   # planned, never started: no record of them
        raise
    worker = _start_worker(settings) if embedded_mode and workers == 1 else None
    try:
        return _serve(settings, sandboxes, workers, rq_worker=embedded_mode, mqtt_embedded=mqtt_embedded)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        if embedded is not None:
            embedded.stop()
        from payments.sandboxes import local as local_payments

        local_payments.forget(settings)


def _undo_start(redis_started, migrating: int | None) -> None:
    """Start-up failed (or was interrupted): nothing it started outlives it."""
    if migrating is not None:
        try:
            os.waitpid(migrating, 0)
        except ChildProcessError:
            pass
    if redis_started is not None and redis_started.done() and redis_started.exception() is None:
        _, embedded = redis_started.result()
        if embedded is not None:
            embedded.stop()


def _plan_sandboxes(settings: Settings, args: argparse.Namespace):
    """(settings pointed at the local sandboxes and fakes, the sandboxes to run)."""
    sandboxes = []
    if args.fake_at:
        from enerlectra.ports import free_port
        from payments.sandboxes import local as local_payments
        from simulator.fake_at import FakeAT, report_url

        fake_at, at_port = FakeAT(), free_port()
        settings = settings.with_(at_username=fake_at.username, at_api_key=fake_at.api_key,
                                  at_api_base_url=f"http://127.0.0.1:{at_port}")
        fake_at.report_url = report_url(f"http://127.0.0.1:{settings.port}", settings.webhook_token)
        sandboxes.append(local_payments.LocalSandbox("at", fake_at, at_port))
    from payments.sandboxes import local as local_payments

    # Mobile-money providers without a configured base URL get a local sandbox (prompts wait for QA).
    settings, payment_boxes = local_payments.plan(settings)
    sandboxes[:0] = payment_boxes
    local_payments.remember(settings, payment_boxes)      # a worker started on its own finds them (cmd_worker)
    if args.fake_claude:
        from enerlectra.ports import free_port
        from simulator.fake_claude import FakeClaude

        claude = local_payments.LocalSandbox("claude", FakeClaude(), free_port())
        settings = settings.with_(anthropic_api_key=claude.fake.api_key, anthropic_base_url=claude.url)
        sandboxes.append(claude)
    return settings, sandboxes


def _plan_broker(settings: Settings) -> tuple[Settings, bool]:
    """MQTT_URL, or the embedded broker serve starts (ussd_app/station_process.py)."""
    from enerlectra.domain.stations.ejects import Rules
    from ussd_app import station_process

    try:
        Rules.from_settings(settings)
    except ValueError as exc:
        raise SystemExit(f"enerlectra: {exc}") from None
    return station_process.plan_broker(settings, port_set=bool(os.environ.get("MQTT_PORT", "").strip()))


def _migrate_aside(url: str) -> int | None:
    """Upgrade the embedded database to head in a forked child, so Alembic and the migrations run on the other
    core while this process imports the app; its pid for _migrated (None: at head already, nothing to do).
    Forked before any thread of ours starts."""
    from enerlectra.db.migrate import at_head, upgrade

    if at_head(url):
        return None
    if not hasattr(os, "fork"):
        upgrade(url)
        return None
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:                                       # the child: never back into the parent's code
        # A known failure (not a database, a bad revision...) is one line on stderr, as before the fork.
        code = cli_errors.run(lambda _: upgrade(url) or 0, argparse.Namespace())
    except BaseException:                      # noqa: BLE001 -- logged, then this process ends
        logging.getLogger("enerlectra").exception("migrating %s failed", redact_url(url))
    finally:
        sys.stderr.flush()
        os._exit(code)


def _migrated(pid: int | None) -> None:
    """Wait for _migrate_aside's child; a failed upgrade stops serve with the child's exit code (it said why
    on stderr): no hop on a half-migrated database."""
    if pid is None:
        return
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(code if code > 0 else 1)


def _serve(settings: Settings, sandboxes, workers: int, rq_worker: bool, mqtt_embedded: bool = False) -> int:
    """One web process here (workers == 1, as before), or a supervisor of `workers` forked ones
    (ussd_app/processes.py), which also keeps the rq worker running (embedded mode). Either way the sandboxes,
    the rq worker, the embedded MQTT broker and the subscribing station link run once."""
    from aiohttp import web

    from ussd_app import access_log, processes, station_process

    log = logging.getLogger("enerlectra")
    for box in sandboxes:
        if box.name == "at":
            log.info("fake Africa's Talking SMS API: %s (sim --at-url)", box.url)
        else:
            log.info("%s", sandbox_line(box.name, box.url))
    log.info("%s", startup_line(settings))
    log.info("stations: %s (%s)", redact_url(settings.mqtt_url),
             "embedded MQTT broker" if mqtt_embedded else "MQTT_URL")
    warning = open_webhooks_warning(settings)
    if warning:
        log.warning("%s", warning)
    loop_kind = "uvloop" if processes.use_uvloop() else "asyncio"
    if workers == 1:
        from ussd_app.app import create_app

        if processes.stop_requested():
            return 0
        app = create_app(settings)
        if mqtt_embedded:                               # before the link connects to it
            app.cleanup_ctx.insert(0, station_process.broker_ctx(settings))
        if sandboxes:
            app.cleanup_ctx.append(_serve_sandboxes(sandboxes))
        processes.resume_gc()
        log.info("one web process (%s)", loop_kind)
        web.run_app(app, host=settings.host, port=settings.port, print=None, **access_log.RUNNER_KWARGS)
        return 0

    from enerlectra import i18n
    from ussd_app import metrics

    metrics.use_multiprocess(settings.home / "metrics")   # before the app is imported into the forks
    # Imported once here: every fork starts warm.
    from ussd_app.app import create_app
    i18n.load_all()
    processes.resume_gc()                                  # before the forks: they share what start-up made

    def web_process() -> None:
        app = create_app(settings.with_(station_link_subscriber=False))     # publishes ejects; one subscriber
        web.run_app(app, host=settings.host, port=settings.port, reuse_port=True, print=None,
                    handle_signals=True, **access_log.RUNNER_KWARGS)

    children = [processes.Child(f"web process {n + 1}", web_process, restart=True) for n in range(workers)]
    if rq_worker:
        log.info("starting a worker process (embedded mode)")
        env = {**os.environ, **settings.worker_env()}
        children.append(processes.Child("rq worker", processes.exec_python(["-m", "ussd_app.cli", "worker"], env),
                                        restart=True))
    children.append(processes.Child("station link",
                                    lambda: station_process.run_link_process(settings, mqtt_embedded,
                                                                             _rental_hooks(settings)),
                                    restart=True))
    if sandboxes:
        children.insert(0, processes.Child("sandboxes", lambda: processes.serve_sandboxes(sandboxes),
                                           restart=False))
    log.info("%d web processes (%s, SO_REUSEPORT on port %s)", workers, loop_kind, settings.port)
    return processes.Supervisor(children).run()


# The sandboxes a `sim --url` handset must be told about (it approves their payment prompts); the fake
# Claude needs no flag: only the server talks to it.
SIM_FLAGS = {"mtn": "--mtn-url", "airtel": "--airtel-url", "pawapay": "--pawapay-url",
             "azampay": "--azampay-url"}


def sandbox_line(name: str, url: str) -> str:
    """What `serve` says about a local sandbox: where it runs and how a handset reaches it."""
    if name in SIM_FLAGS:
        return (f"local {name} sandbox: {url} "
                f"(pass `sim --url ... {SIM_FLAGS[name]} {url}` to approve prompts)")
    return f"local {name} sandbox: {url} (used by this server only; `sim --url` needs no flag for it)"


def startup_line(settings: Settings) -> str:
    """What `serve` says it runs on, passwords hidden (settings.redis_url already resolved)."""
    return "USSD webhook: http://{}:{}/ussd/africastalking (redis {}, sql {}, sms via {}, advisor {})".format(
        settings.host, settings.port, redact_url(settings.redis_url), redact_url(settings.effective_database_url),
        redact_url(settings.at_api_base_url) if settings.at_api_base_url
        else ("africastalking" if settings.at_username else "local outbox"),
        redact_url(settings.anthropic_base_url or "Claude") if settings.anthropic_api_key else "offline answer bank")


def _rental_hooks(settings: Settings):
    """What the link process tells the rental layer (ejected, eject failed, returned)."""
    from enerlectra.domain.rentals.hooks import RentalHooks
    return RentalHooks(settings)


def open_webhooks_warning(settings: Settings) -> str | None:
    """One loud line when anyone who can reach the port may post to the webhooks (None: nothing to say)."""
    if settings.webhook_token or _is_loopback(settings.host):
        return None
    return (f"WEBHOOK_TOKEN is not set and {settings.host} is not loopback: anyone who reaches port "
            f"{settings.port} can post USSD hops, SMS and payment callbacks; set WEBHOOK_TOKEN")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False                  # a name (or "" / 0.0.0.0 style wildcards): assume it is reachable


def _start_worker(settings: Settings):
    """Embedded mode runs one worker process beside the web app (same Redis, same database)."""
    import os
    import subprocess

    env = {**os.environ, **settings.worker_env()}
    logging.getLogger("enerlectra").info("starting a worker process (embedded mode)")
    return subprocess.Popen([sys.executable, "-m", "ussd_app.cli", "worker"], env=env)


def _serve_sandboxes(sandboxes):
    """Run the local sandboxes inside the web app's loop, on their known ports."""
    from payments.sandboxes import local as local_payments

    async def ctx(app):
        async with local_payments.serving(sandboxes):
            yield
    return ctx


def cmd_worker(args: argparse.Namespace) -> int:
    from payments.sandboxes import local as local_payments
    from workers.main import run_worker

    settings = local_payments.attach(Settings.from_env())      # the providers exactly as serve has them
    _logging(settings.log_level)
    absent = local_payments.missing(settings)
    if absent:
        logging.getLogger("enerlectra").warning(
            "worker: no %s configured (no base URL, and no serve of this ENERLECTRA_HOME runs a sandbox for it): "
            "their payments are not reconciled; give the worker the same provider variables as serve",
            ", ".join(absent))
    return run_worker(settings, burst=args.burst, fork=args.fork)


def cmd_sms_outbox(args: argparse.Namespace) -> int:
    from enerlectra.db.engine import make_engine, make_sessionmaker
    from sms.report import outbox_rows, table

    settings = Settings.from_env()

    async def show() -> str:
        engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
        try:
            return table(await outbox_rows(make_sessionmaker(engine), args.to, args.status, args.limit))
        finally:
            await engine.dispose()
    print(asyncio.run(show()))
    return 0


def _read(settings: Settings, query):
    """`query(session)` in a session of its own: what the CLI's listings read."""
    async def run(db):
        async with db() as s:
            return await query(s)
    return _with_db(settings, run)


def _with_db(settings: Settings, work):
    from enerlectra.db.engine import make_engine, make_sessionmaker

    _use_ledger_key(settings)

    async def run():
        engine = make_engine(settings.effective_database_url, schema=settings.database_schema)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()
    return asyncio.run(run())


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from enerlectra.db.models import JournalEntry
    from enerlectra.domain import ledger, ledger_anchors
    from enerlectra.domain.market import book
    from enerlectra.domain.market import rules as market_rules
    from enerlectra.domain.rentals import holds as rental_holds

    try:
        anchor = ledger.Anchor.parse(args.anchor) if args.anchor else ledger_anchors.latest(Settings.from_env().home)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    rules = market_rules.from_settings(Settings.from_env())

    async def verify(db):
        async with db() as s:
            await ledger.one_snapshot(s)           # a live service keeps posting while we read
            problems = await ledger.verify(s, anchor=anchor) + await book.check_escrow(s, rules) + \
                await rental_holds.check_deposits(s)
            return problems, await s.scalar(select(func.count()).select_from(JournalEntry))
    problems, entries = _with_db(Settings.from_env(), verify)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"ok: {entries} entries, MAC chain intact" + (f" through anchored seq {anchor.seq}" if anchor else "") +
          ", every balance equals its postings, market escrow matches the book, rental deposits match open "
          "rentals")
    return 0


def cmd_ledger_anchor(args: argparse.Namespace) -> int:
    """One line to keep outside the database (a log, a ticket, paper): `ledger verify --anchor LINE` later
    proves the chain still passes through it, which a rewrite or truncation of the tail cannot fake. It is
    also recorded in the home's ledger.anchors, which a plain `ledger verify` checks."""
    from enerlectra.domain import ledger, ledger_anchors

    async def anchor(db):
        async with db() as s:
            return await ledger.head_anchor(s)
    try:
        head = _with_db(Settings.from_env(), anchor)
        ledger_anchors.record(Settings.from_env().home, head)
        print(head)
    except ledger.LedgerError as exc:
        print(exc)
        return 1
    return 0


def cmd_ledger_credit(args: argparse.Namespace) -> int:
    import uuid

    from enerlectra.domain import ledger, wallet
    from enerlectra.domain.account_texts import credit_text
    from enerlectra.domain.money import BadAmount, format_energy, format_money, parse_amount
    from enerlectra.i18n import in_language_of

    if args.energy:
        try:
            wh = int(args.amount)
        except ValueError:
            raise BadArgument(f"{args.amount!r}: Wh is a whole number of watt-hours") from None
        if wh <= 0:
            raise BadArgument(f"{args.amount!r}: Wh must be more than zero")

    async def credit(db):
        user = await wallet.find_user(db, args.msisdn)
        if user is None:
            raise SystemExit(f"enerlectra: {args.msisdn} is not registered")
        if args.energy:
            amount, asset = wh, ledger.ENERGY
        else:
            try:
                amount, asset = parse_amount(args.amount, user.currency), user.currency
            except BadAmount as exc:
                raise BadArgument(f"amount {args.amount!r}: {exc}") from None
        key = args.key or f"operator:{uuid.uuid4().hex}"
        try:
            posted = await wallet.credit(db, key, user, asset, amount, f"operator: {args.reason}",
                                         receipt=lambda ref: in_language_of(user, credit_text, amount, asset, ref))
        except wallet.KeyReused as exc:
            raise SystemExit(f"enerlectra: --key {key} was used for another credit (entry {exc.entry_id}); "
                             f"nothing was credited") from None
        shown = format_energy(amount) if args.energy else format_money(amount, asset)
        if not posted.created:
            return f"entry {posted.entry_id}: this credit was made before with --key {key}; nothing more credited"
        return (f"entry {posted.entry_id}: credited {shown} to {user.msisdn} ({args.reason}); "
                f"the SMS receipt goes out with the next outbox sweep")
    print(_with_db(Settings.from_env(), credit))
    return 0


def _payments(work):
    """Run `work(payments)` against the database; SMS it queues go out with the worker's outbox sweep (the CLI's
    sessionmaker has no job sink: enerlectra/domain/work.py)."""
    import aiohttp

    from payments import setup as payments_setup

    async def run(db):
        async with aiohttp.ClientSession() as http:
            return await work(payments_setup.build(Settings.from_env(), db, http))
    return _with_db(Settings.from_env(), run)


def cmd_payments_review(args: argparse.Namespace) -> int:
    from enerlectra.domain.money import format_money

    rows = _payments(lambda payments: payments.under_review(args.limit))
    if not rows:
        print("no payments waiting for review")
    for p in rows:
        print(f"{p.reference} {p.created_at:%Y-%m-%d %H:%M} {p.provider} {p.direction} {p.msisdn} "
              f"{format_money(p.amount + (p.fee if p.direction == 'collection' else 0), p.currency)}: {p.reason}")
    return 0


def cmd_payments_resolve(args: argparse.Namespace) -> int:
    from payments.service import NotUnderReview

    try:
        state = _payments(lambda payments: payments.resolve(args.reference, args.outcome == "paid"))
    except NotUnderReview as exc:
        state = str(exc)
        print(f"no payment has reference {args.reference!r}" if state == "unknown" else
              f"{args.reference}: {state}; only a payment under review can be resolved by hand")
        return 1
    print(f"{args.reference}: {state}; the user's SMS goes out with the next outbox sweep")
    return 0


def cmd_advisor_usage(args: argparse.Namespace) -> int:
    from enerlectra.domain.advisor import usage

    async def report(db):
        async with db() as s:
            return usage.table(await usage.summary(s, args.days))
    print(_with_db(Settings.from_env(), report))
    return 0


def cmd_energy_credit(args: argparse.Namespace) -> int:
    """`energy credit MSISDN WH`: what `ledger credit --energy` does, by the name pilots use."""
    args.amount, args.energy = args.wh, True
    return cmd_ledger_credit(args)


def cmd_meter_add(args: argparse.Namespace) -> int:
    """`meter add MSISDN SERIAL --export-wh N --import-wh N`: the secret from --secret-file or stdin, never argv."""
    from sqlalchemy import select

    from enerlectra.db.models import User
    from enerlectra.domain import audit, meters

    secret = _read_secret(args.secret_file)

    async def add(db):
        async with db() as s, s.begin():
            user = await s.scalar(select(User).where(User.msisdn == args.msisdn))
            if user is None:
                raise SystemExit(f"enerlectra: {args.msisdn} is not registered")
            try:
                meter = await meters.register(s, user, args.serial, secret, args.export_wh, args.import_wh)
            except meters.MeterTaken as exc:
                raise SystemExit(f"enerlectra: meter {exc} is registered already; nothing changed") from None
            except ValueError as exc:            # a serial or secret the meter rules refuse
                raise SystemExit(f"enerlectra: {exc}") from None
            audit.record(s, audit.CLI, "meter.add", f"user:{user.id}",
                         after={"meter": meter.number, "export_wh": args.export_wh, "import_wh": args.import_wh})
        return (f"meter {meter.number} registered to {args.msisdn}; baseline export {args.export_wh} Wh, "
                f"import {args.import_wh} Wh at {meter.last_read_at:%Y-%m-%d %H:%M} UTC")
    print(_with_db(Settings.from_env(), add))
    return 0


def _read_secret(path: str | None) -> str:
    """The meter's secret from a file or stdin (a prompt without echo on a terminal): never from argv."""
    import getpass

    if path:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    if sys.stdin.isatty():
        return getpass.getpass("meter secret: ").strip()
    return sys.stdin.readline().strip()


def cmd_meter_reset_baseline(args: argparse.Namespace) -> int:
    """`meter reset-baseline SERIAL`: after a swap, the meter's next reading is its new baseline."""
    import json

    from enerlectra.domain import audit, meters

    async def reset(db):
        async with db() as s, s.begin():
            try:
                done = await meters.reset_baseline(s, args.serial)
            except meters.UnknownMeter:
                raise SystemExit(f"enerlectra: no meter has serial {args.serial!r}") from None
            if done["changed"]:           # a reset already waiting changed nothing: no second row
                audit.record(s, audit.CLI, "meter.reset_baseline", f"meter:{done['serial']}",
                             before=done["before"], after=done["after"])
            return done
    done = _with_db(Settings.from_env(), reset)
    what = "the next reading becomes its baseline" if done["changed"] else "already waiting for its new baseline"
    print(f"meter {done['serial']}: {what}; before {json.dumps(done['before'])} after {json.dumps(done['after'])}")
    return 0


def cmd_meter_flagged(args: argparse.Namespace) -> int:
    from enerlectra.domain import meters

    rows = _read(Settings.from_env(), lambda s: meters.flagged(s, args.limit))
    if not rows:
        print("no flagged readings")
    for number, msisdn, r in rows:
        print(f"{r.read_at:%Y-%m-%d %H:%M} {number} ({msisdn}) export {r.export_wh} Wh import {r.import_wh} Wh: "
              f"{r.reason}")
    return 0


def cmd_pin_requests(args: argparse.Namespace) -> int:
    from enerlectra.domain import pin_support

    print("\n".join(_with_db(Settings.from_env(), lambda db: pin_support.requests(db, args.limit))))
    return 0


def cmd_pin_reset(args: argparse.Namespace) -> int:
    """One line either way: what was issued, or why nothing was (exit 1)."""
    from enerlectra.domain import pin_support
    from enerlectra.domain.pin_resets import ResetRefused

    settings = Settings.from_env()
    try:
        print(_with_db(settings, lambda db: pin_support.reset(db, settings, args.msisdn, args.force,
                                                              note=args.note)))
    except ResetRefused as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _read_password(generate: bool) -> tuple[str, bool]:
    """The new operator's password: generated (printed once), the first line of stdin when piped, or typed
    twice at a terminal. Returns (password, generated)."""
    import getpass

    from enerlectra.domain.operators import generate_password

    if generate:
        return generate_password(), True
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n"), False
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise BadArgument("the two passwords differ")
    return first, False


def cmd_operator_add(args: argparse.Namespace) -> int:
    from enerlectra.db.migrate import upgrade
    from enerlectra.domain import operators

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    _use_ledger_key(settings)
    upgrade(settings.effective_database_url, "head", schema=settings.database_schema)   # the first operator
    try:                                                                                   # may come first
        password, generated = _read_password(args.generate)
        who = _with_db(settings, lambda db: operators.add(db, args.email, args.role, password,
                                                          cost=settings.console_kdf_cost,
                                                          cluster_code=args.cluster))
    except (operators.OperatorError, BadArgument) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"operator {who.email} added as {who.role}" + (f"; password (shown once): {password}" if generated
                                                         else ""))
    return 0


def cmd_operator_unlock(args: argparse.Namespace) -> int:
    from enerlectra.domain import operators

    try:
        _with_db(Settings.from_env(), lambda db: operators.unlock(db, args.email))
    except operators.OperatorError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"operator {args.email} unlocked")
    return 0


def cmd_operator_set(args: argparse.Namespace) -> int:
    from enerlectra.domain import operators

    disabled = True if args.disable else False if args.enable else None
    if args.role is None and args.cluster is None and disabled is None:
        print("nothing to change: give --role, --cluster, --disable or --enable", file=sys.stderr)
        return 2
    try:
        who = _with_db(Settings.from_env(), lambda db: operators.change(
            db, args.email, role=args.role, cluster_code=args.cluster, disabled=disabled))
    except operators.OperatorError as exc:
        print(exc, file=sys.stderr)
        return 1
    state = "disabled" if disabled else "enabled" if disabled is False else "changed"
    print(f"operator {who.email} {state}: {who.role}")
    return 0


def cmd_operator_password(args: argparse.Namespace) -> int:
    from enerlectra.domain import operators

    settings = Settings.from_env()
    try:
        password, generated = _read_password(args.generate)
        _with_db(settings, lambda db: operators.set_password(db, args.email, password,
                                                             cost=settings.console_kdf_cost))
    except (operators.OperatorError, BadArgument) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"operator {args.email}: new password set, every console session of the old one ended"
          + (f"; password (shown once): {password}" if generated else ""))
    return 0


def cmd_operator_list(args: argparse.Namespace) -> int:
    from enerlectra.domain import operators

    rows = _with_db(Settings.from_env(), operators.listing)
    print(f"{'email':40} {'role':8} {'cluster':8} {'state':8} last login")
    for r in rows:
        locked = r.locked_until is not None and r.locked_until > datetime.now(timezone.utc)
        state = "disabled" if r.disabled else "locked" if locked else "active"
        last = r.last_login_at.strftime("%Y-%m-%d %H:%M") if r.last_login_at else "never"
        print(f"{r.email:40} {r.role:8} {r.cluster or '-':8} {state:8} {last}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from enerlectra.db.migrate import upgrade
    from enerlectra.domain import ledger

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    no_key = None
    try:                                            # 0011 and 0022 seal what is already there with the key
        _use_ledger_key(settings)
    except SystemExit as exc:                       # an empty ledger, no plain PIN: none needed
        no_key = str(exc)
        print(f"no ledger key yet ({exc})", file=sys.stderr)
    try:
        upgrade(settings.effective_database_url, args.revision, schema=settings.database_schema)
    except ledger.NoKey:                            # a migration has something to seal: say what to do
        raise SystemExit(f"enerlectra: db upgrade stopped: the database holds ledger entries or PINs to seal "
                         f"with the installation's key; {no_key or 'set LEDGER_KEY'}, then run it again") from None
    print(f"database at {args.revision}: {redact_url(settings.effective_database_url)}")
    return 0


def cmd_menus_lint(args: argparse.Namespace) -> int:
    from ussd_app.lint import lint

    problems = lint()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    from ussd_app import menu_tree
    print(f"ok: {len(menu_tree.TREE.states)} states, every screen in every language within 160 GSM-7 septets")
    return 0


def cmd_menus_graph(args: argparse.Namespace) -> int:
    from ussd_app import menu_tree
    from ussd_app.lint import mermaid

    print(mermaid(menu_tree.TREE))
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from simulator.handset import run_handset

    return asyncio.run(run_handset(url=args.url, msisdn=args.msisdn, token=args.token,
                                   service_code=args.service_code, at_url=args.at_url,
                                   sandboxes={"mtn": args.mtn_url, "airtel": args.airtel_url,
                                              "pawapay": args.pawapay_url, "azampay": args.azampay_url},
                                   fake_claude=args.fake_claude, aggregator=args.aggregator))


def cmd_sim_run(args: argparse.Namespace) -> int:
    from simulator.journeys import run_files

    return asyncio.run(run_files(args.files, url=args.url, token=args.token, at_url=args.at_url,
                                 aggregator=args.aggregator))


def cmd_sim_load(args: argparse.Namespace) -> int:
    from simulator import load

    return load.main(args.rate, args.seconds, args.url, args.workers, args.users, args.token)


def cmd_stations_add(args: argparse.Namespace) -> int:
    """`stations add CODE --name .. --area .. --slots N [--country ZM|TZ]`: a cabinet, offline until it connects."""
    from enerlectra.db.migrate import upgrade
    from enerlectra.domain import audit
    from enerlectra.domain.stations import fleet

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    _use_ledger_key(settings)                             # an upgrade may seal existing entries (0011)
    upgrade(settings.effective_database_url, "head", schema=settings.database_schema)   # cabinets before a serve

    async def add(db):
        async with db() as s, s.begin():
            try:
                st = await fleet.add(s, args.code, args.name, args.area, args.slots, args.country)
            except fleet.StationTaken:
                raise SystemExit(f"enerlectra: station {args.code} is registered already; nothing changed") from None
            except ValueError as exc:
                raise SystemExit(f"enerlectra: {exc}") from None
            audit.record(s, audit.CLI, "station.add", f"station:{st.code}",
                         after={"name": st.name, "area": st.area, "country": st.country, "slots": st.slots})
            return st
    st = _with_db(settings, add)
    print(f"station {st.code} ({st.name}, {st.area}, {st.country}): {st.slots} slots; offline until it connects "
          f"(MQTT username {st.code}, client id st-{st.code})")
    return 0


def cmd_stations_list(args: argparse.Namespace) -> int:
    from enerlectra.domain.stations import fleet

    settings = Settings.from_env()

    rows = _read(settings, lambda s: fleet.views(s, settings.rental_min_soc, args.area))
    if not rows:
        print("no stations" + (f" in an area like {args.area!r}" if args.area else ""))
        return 0
    print(f"{'CODE':<7}{'NAME':<22}{'AREA':<18}{'STATE':<8}{'BANKS':>6}{'FREE':>6}  LAST HEARTBEAT")
    for v in rows:
        heard = f"{v.last_heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if v.last_heartbeat_at else "never"
        print(f"{v.code:<7}{v.name[:21]:<22}{v.area[:17]:<18}{'online' if v.online else 'offline':<8}"
              f"{v.free_banks:>6}{v.free_slots:>6}  {heard}")
    print(f"BANKS: charged (>= {settings.rental_min_soc}%) and free to rent; FREE: empty slots a return fits in")
    return 0


def cmd_stations_log(args: argparse.Namespace) -> int:
    from enerlectra.domain.stations import fleet

    async def show(db):
        async with db() as s:
            try:
                return await fleet.log_of(s, args.code, args.limit)
            except LookupError:
                raise SystemExit(f"enerlectra: no station has code {args.code!r}") from None
    rows = _with_db(Settings.from_env(), show)
    if not rows:
        print(f"station {args.code}: nothing logged yet")
    for row, serial in rows:
        print(f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.kind:<13} {serial + ': ' if serial else ''}{row.detail} "
              f"({row.author})")
    return 0


def cmd_stations_alerts(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from enerlectra import clock
    from enerlectra.domain.stations import fleet

    settings = Settings.from_env()
    cutoff = clock.now() - timedelta(seconds=settings.eject_unknown_seconds)

    async def both(s):
        return await fleet.stuck_ejects(s, cutoff, args.limit), await fleet.alerts(s, args.limit)
    stuck, rows = _read(settings, both)
    for req, code, serial in stuck:           # what stands first: no result and no deciding heartbeat yet
        print(f"{req.issued_at:%Y-%m-%d %H:%M:%S} eject    {code:<7} {serial + ': ' if serial else ''}request "
              f"{req.req_id} (slot {req.slot_n}, rental {req.rental_ref or '-'}) still {req.state}: "
              f"`enerlectra stations eject-settle {req.req_id} --ejected|--not-ejected --why TEXT`")
    if not rows:
        print("no alerts, incidents or offline stations logged")
    for row, code, serial in rows:
        print(f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.kind:<9} {code or '-':<7} "
              f"{serial + ': ' if serial else ''}{row.detail}")
    return 0


def cmd_stations_note(args: argparse.Namespace) -> int:
    """`stations note CODE TEXT [--bank PB..]`: a maintenance note in the station's log (audited)."""
    from enerlectra import clock
    from enerlectra.domain import audit
    from enerlectra.domain.stations import fleet

    async def note(db):
        async with db() as s, s.begin():
            try:
                await fleet.record_note(s, audit.CLI, args.code, args.text, clock.now(), args.bank)
            except LookupError as exc:
                raise SystemExit(f"enerlectra: no station or bank {exc}") from None
    _with_db(Settings.from_env(), note)
    print(f"noted in station {args.code}'s log")
    return 0


def cmd_stations_eject_settle(args: argparse.Namespace) -> int:
    """`stations eject-settle REQ_ID --ejected|--not-ejected --why TEXT [--force]`: an operator's word on an eject
    the station never answered; the rental starts or is cancelled with its deposit back, once (audited)."""
    from enerlectra import clock
    from enerlectra.domain import audit
    from enerlectra.domain.stations import by_hand
    from enerlectra.domain.work import unit_of_work

    settings = Settings.from_env()
    try:
        by_hand.clean_why(args.why)
    except ValueError as exc:
        raise BadArgument(str(exc)) from None
    hooks = _rental_hooks(settings)

    async def settle(db):
        async with unit_of_work(db) as s:
            return await by_hand.settle(s, audit.CLI, args.req_id, args.ejected, args.why, clock.now(), hooks,
                                        args.force)
    try:
        req = _with_db(settings, settle)
    except by_hand.NotOpen as exc:
        print(f"no eject request {exc.req_id!r}" if exc.state is None else
              f"{exc.req_id}: settled already ({exc.state}"
              f"{f' at {exc.settled_at:%Y-%m-%d %H:%M:%S} UTC' if exc.settled_at else ''}); nothing changed")
        return 1
    except (by_hand.InventoryDisagrees, by_hand.TooEarly) as exc:
        print(f"{args.req_id}: not settled: {exc}")
        return 1
    rental = f"rental {req.rental_ref}" if req.rental_ref else "no rental"
    print(f"{req.req_id}: settled {'ejected' if req.state == 'ok' else 'not ejected'} ({rental} "
          f"{'runs' if req.state == 'ok' else 'cancelled, deposit back'}); the renter's SMS goes out with the next "
          f"outbox sweep")
    return 0


def cmd_sim_fleet(args: argparse.Namespace) -> int:
    from simulator.stations.run import run_fleet

    try:
        return asyncio.run(run_fleet(args.stations, args.slots, args.mqtt, args.file, args.heartbeat))
    except ValueError as exc:                # a bad YAML row, station code or MQTT URL: one line, exit 2
        raise cli_errors.BadArgument(str(exc)) from None
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    from ussd_app.aggregators.names import NAMES  # registry.ADAPTERS' names, without importing the adapters

    aggregators = sorted(NAMES)
    parser = argparse.ArgumentParser(prog="enerlectra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service (embedded Redis and SQLite by default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=cli_errors.whole(1, 65535))
    serve.add_argument("--workers", type=cli_errors.whole(1, 256),
                       help="web processes (default WEB_WORKERS, else one per core); 1: one process, as before")
    serve.add_argument("--fake-at", action="store_true",
                       help="send SMS through the real SDK to a fake Africa's Talking server started here")
    serve.add_argument("--fake-claude", action="store_true",
                       help="answer advisor questions through the real SDK and a fake Messages API started here")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run an rq worker (SMS and other jobs) and the outbox sweeper")
    worker.add_argument("--burst", action="store_true", help="run what is queued, then exit")
    worker.add_argument("--fork", action="store_true",
                        help="fork a work horse per job (isolation; about 6x slower for short SMS jobs)")
    worker.set_defaults(func=cmd_worker)

    sms = sub.add_parser("sms", help="SMS").add_subparsers(dest="sms_command", required=True)
    out = sms.add_parser("outbox", help="the newest outbound SMS and what happened to each")
    out.add_argument("--to", type=cli_errors.msisdn, help="only this number (E.164)")
    out.add_argument("--status", choices=["queued", "sending", "sent", "delivered", "failed", "suppressed"])
    out.add_argument("--limit", type=cli_errors.whole(1, 10_000), default=20)
    out.set_defaults(func=cmd_sms_outbox)

    ledger_cmd = sub.add_parser("ledger", help="the ledger").add_subparsers(dest="ledger_command", required=True)
    lverify = ledger_cmd.add_parser("verify", help="recompute the MAC chain and every balance; exit 1 on any "
                                                   "mismatch, one line per problem, the first bad entry first")
    lverify.add_argument("--anchor", metavar="LINE", help="a line from `ledger anchor`: the chain must reach it "
                         "(default: the newest in ENERLECTRA_HOME/ledger.anchors, which the worker writes)")
    lverify.set_defaults(func=cmd_ledger_verify)
    ledger_cmd.add_parser("anchor", help="print the chain head (seq, entry, MAC) as one line to keep outside "
                                         "the database").set_defaults(func=cmd_ledger_anchor)
    credit = ledger_cmd.add_parser("credit", help="an audited operator credit (pilots without mobile money)")
    credit.add_argument("msisdn", type=cli_errors.msisdn, help="E.164, like +260971234567")
    credit.add_argument("amount", help="money as typed (25.50), or Wh with --energy")
    credit.add_argument("--energy", action="store_true", help="credit energy in Wh instead of money")
    credit.add_argument("--reason", required=True)
    credit.add_argument("--key", help="idempotency key (default: a new one)")
    credit.set_defaults(func=cmd_ledger_credit)

    energy = sub.add_parser("energy", help="energy credits").add_subparsers(dest="energy_command", required=True)
    ecredit = energy.add_parser("credit", help="an audited operator credit of Wh (pilots without meters)")
    ecredit.add_argument("msisdn", type=cli_errors.msisdn, help="E.164, like +260971234567")
    ecredit.add_argument("wh", type=cli_errors.whole(1, 10**12), help="watt-hours")
    ecredit.add_argument("--reason", required=True)
    ecredit.add_argument("--key", help="idempotency key (default: a new one)")
    ecredit.set_defaults(func=cmd_energy_credit)

    meter = sub.add_parser("meter", help="prosumer meters").add_subparsers(dest="meter_command", required=True)
    madd = meter.add_parser("add", help="register a meter to a user with its serial, secret and register values")
    madd.add_argument("msisdn", type=cli_errors.msisdn, help="E.164, like +260971234567")
    madd.add_argument("serial", help="the meter's own serial, as its manufacturer printed it")
    madd.add_argument("--secret-file", help="a file whose first line is the meter's secret (default: stdin)")
    madd.add_argument("--export-wh", type=cli_errors.whole(0, 10**15), required=True, help="the export register now (the baseline)")
    madd.add_argument("--import-wh", type=cli_errors.whole(0, 10**15), required=True, help="the import register now (the baseline)")
    madd.set_defaults(func=cmd_meter_add)
    mreset = meter.add_parser("reset-baseline", help="after a meter swap: its next reading is the new baseline "
                                                     "(nothing credited for the jump)")
    mreset.add_argument("serial", help="the meter's serial")
    mreset.set_defaults(func=cmd_meter_reset_baseline)
    mflag = meter.add_parser("flagged", help="readings flagged for an operator (backwards, over a cap)")
    mflag.add_argument("--limit", type=cli_errors.whole(1, 10_000), default=50)
    mflag.set_defaults(func=cmd_meter_flagged)

    stations = sub.add_parser("stations", help="power-bank stations").add_subparsers(dest="stations_command",
                                                                                      required=True)
    sadd = stations.add_parser("add", help="register a cabinet by the code printed on it (4 to 6 digits)")
    sadd.add_argument("code")
    sadd.add_argument("--name", required=True, help="the shop or place, as users know it")
    sadd.add_argument("--area", required=True, help="the area users search by (Find a station)")
    sadd.add_argument("--slots", type=cli_errors.whole(1, 99), required=True)
    sadd.add_argument("--country", choices=("ZM", "TZ"), default="ZM")
    sadd.set_defaults(func=cmd_stations_add)
    slist = stations.add_parser("list", help="every station: online, charged banks free, free slots, last heartbeat")
    slist.add_argument("--area", help="only areas containing this")
    slist.set_defaults(func=cmd_stations_list)
    slog = stations.add_parser("log", help="a station's faults, alerts, incidents and notes, newest first")
    slog.add_argument("code")
    slog.add_argument("--limit", type=cli_errors.whole(1, 10_000), default=50)
    slog.set_defaults(func=cmd_stations_log)
    salerts = stations.add_parser("alerts", help="every station's alerts (banks gone or back with no rental, "
                                                 "unknown ejects), incidents and offline lines, newest first")
    salerts.add_argument("--limit", type=cli_errors.whole(1, 10_000), default=50)
    salerts.set_defaults(func=cmd_stations_alerts)
    snote = stations.add_parser("note", help="a maintenance note in a station's log (and a bank's, with --bank)")
    snote.add_argument("code")
    snote.add_argument("text")
    snote.add_argument("--bank", help="the bank's serial (PB...)")
    snote.set_defaults(func=cmd_stations_note)
    settle = stations.add_parser("eject-settle", help="settle an eject request the station never answered (see "
                                                      "`stations alerts`): the rental starts or is cancelled with its "
                                                      "deposit back, once; audited")
    settle.add_argument("req_id", help="the request id (`stations alerts`, the console's open ejects)")
    word = settle.add_mutually_exclusive_group(required=True)
    word.add_argument("--ejected", action="store_true", help="the bank came out: the renter has it")
    word.add_argument("--not-ejected", dest="ejected", action="store_false", help="nothing came out")
    settle.add_argument("--why", required=True, help="what was seen (at the cabinet, from the renter); audited")
    settle.add_argument("--force", action="store_true",
                        help="settle although the last heartbeat shows the bank otherwise")
    settle.set_defaults(func=cmd_stations_eject_settle)

    pin = sub.add_parser("pin", help="forgotten PINs").add_subparsers(dest="pin_command", required=True)
    preq = pin.add_parser("requests", help="open PIN reset requests, with each user's recent activity to ask "
                                           "about")
    preq.add_argument("--limit", type=cli_errors.whole(1, 10_000), default=50)
    preq.set_defaults(func=cmd_pin_requests)
    preset = pin.add_parser("reset", help="after checking who the caller is: a one-time reset their next dial "
                                          "uses (PIN_RESET_VALID_HOURS); money actions wait PIN_RESET_HOLD_HOURS")
    preset.add_argument("msisdn", type=cli_errors.msisdn, help="E.164, like +260971234567")
    preset.add_argument("--force", action="store_true", help="issue one although the user has not asked")
    preset.add_argument("--note", default="", help="how the caller's identity was checked (kept in the audit log)")
    preset.set_defaults(func=cmd_pin_reset)

    oper = sub.add_parser("operator", help="console operators").add_subparsers(dest="operator_command",
                                                                                required=True)
    oadd = oper.add_parser("add", help="a console account; the password is read from stdin (piped), typed twice, "
                                       "or generated with --generate and printed once")
    oadd.add_argument("email")
    oadd.add_argument("--role", required=True, choices=("admin", "support", "viewer", "chair"))
    oadd.add_argument("--cluster", help="the cluster code a chair sees (chairs only)")
    oadd.add_argument("--generate", action="store_true", help="generate a password and print it once")
    oadd.set_defaults(func=cmd_operator_add)
    ounlock = oper.add_parser("unlock", help="unlock an account locked after wrong passwords")
    ounlock.add_argument("email")
    ounlock.set_defaults(func=cmd_operator_unlock)
    oset = oper.add_parser("set", help="another role (a chair's cluster), or disable / enable an account; "
                                       "applies on the operator's next request")
    oset.add_argument("email")
    oset.add_argument("--role", choices=("admin", "support", "viewer", "chair"))
    oset.add_argument("--cluster", help="the cluster code a chair sees (chairs only)")
    able = oset.add_mutually_exclusive_group()
    able.add_argument("--disable", action="store_true", help="refuse its logins and end its sessions")
    able.add_argument("--enable", action="store_true")
    oset.set_defaults(func=cmd_operator_set)
    opass = oper.add_parser("password", help="a new password (read as `add` reads it, or --generate); every "
                                             "console session of the old one ends and a lock is lifted")
    opass.add_argument("email")
    opass.add_argument("--generate", action="store_true", help="generate a password and print it once")
    opass.set_defaults(func=cmd_operator_password)
    oper.add_parser("list", help="every operator: role, cluster, active / locked / disabled, last login") \
        .set_defaults(func=cmd_operator_list)

    pay = sub.add_parser("payments", help="mobile money").add_subparsers(dest="payments_command", required=True)
    review = pay.add_parser("review", help="payments a provider did not confirm in a way we trust (oldest first)")
    review.add_argument("--limit", type=cli_errors.whole(1, 10_000), default=50)
    review.set_defaults(func=cmd_payments_review)
    resolve = pay.add_parser("resolve", help="settle a payment under review from the provider's statement")
    resolve.add_argument("reference")
    resolve.add_argument("outcome", choices=("paid", "unpaid"))
    resolve.set_defaults(func=cmd_payments_resolve)

    advisor = sub.add_parser("advisor", help="the AI advisor").add_subparsers(dest="advisor_command", required=True)
    use = advisor.add_parser("usage", help="questions, answers, tokens and cost by topic, backend and status")
    use.add_argument("--days", type=cli_errors.whole(1, cli_errors.MAX_DAYS), default=7)
    use.set_defaults(func=cmd_advisor_usage)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply Alembic migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

    menus_cmd = sub.add_parser("menus", help="menu trees").add_subparsers(dest="menus_command", required=True)
    menus_cmd.add_parser("lint", help="reachability, dead ends, catalogs, every screen within budget") \
        .set_defaults(func=cmd_menus_lint)
    menus_cmd.add_parser("graph", help="print the tree as Mermaid").set_defaults(func=cmd_menus_graph)

    sim = sub.add_parser("sim", help="the handset simulator (interactive); `sim run FILES` replays journeys")
    sim.add_argument("--url", help="a running server (default: in-process app on embedded defaults)")
    sim.add_argument("--token", help="webhook token, when the server wants one")
    sim.add_argument("--at-url", help="with --url: the fake AT server it sends SMS through (for the inbox)")
    sim.add_argument("--mtn-url", help="with --url: the MTN MoMo sandbox it uses (for payment prompts)")
    sim.add_argument("--airtel-url", help="with --url: the Airtel Money sandbox it uses")
    sim.add_argument("--pawapay-url", help="with --url: the pawaPay sandbox it uses (Zamtel, Tanzania)")
    sim.add_argument("--azampay-url", help="with --url: the AzamPay sandbox it uses (Tanzanian deposits)")
    sim.add_argument("--fake-claude", action="store_true",
                     help="in-process: the advisor answers through a fake Messages API (default: offline bank)")
    sim.add_argument("--msisdn", default="+260971000001")
    sim.add_argument("--service-code", default="*123#")
    sim.add_argument("--aggregator", default="africastalking", choices=aggregators,
                     help="whose wire format the handset speaks (default africastalking)")
    sim.set_defaults(func=cmd_sim)
    sim_sub = sim.add_subparsers(dest="sim_command")
    run = sim_sub.add_parser("run", help="replay journey files; exit 1 on the first mismatch")
    run.add_argument("files", nargs="+")
    run.add_argument("--url", help="a running server (default: a fresh in-process app per file)")
    run.add_argument("--token")
    run.add_argument("--at-url", help="with --url: the fake AT server it sends SMS through")
    run.add_argument("--aggregator", default="africastalking", choices=aggregators,
                     help="whose wire format every journey's hops take (default africastalking)")
    run.set_defaults(func=cmd_sim_run)
    load = sim_sub.add_parser("load", help="open-loop load: menu walks of registered users at a fixed rate; "
                                           "prints offered and achieved rate, latency percentiles, errors")
    load.add_argument("--rate", type=cli_errors.whole(1, 1_000_000), default=100, help="hops per second offered")
    load.add_argument("--seconds", type=cli_errors.positive(3600), default=10)
    load.add_argument("--url", help="a running server (its rate limits off); default: start serve --workers N "
                                    "on embedded defaults in a temporary home")
    load.add_argument("--token", help="with --url: the webhook token")
    load.add_argument("--workers", type=cli_errors.whole(1, 256), default=2,
                      help="without --url: the web processes of the serve it starts (default 2)")
    load.add_argument("--users", type=cli_errors.whole(1, 10_000), default=64,
                      help="registered users walking the menus, one keep-alive connection each (default 64)")
    load.set_defaults(func=cmd_sim_load)
    fleet = sim_sub.add_parser("fleet", help="fake power-bank stations speaking station protocol v1 over MQTT, "
                                             "until Ctrl-C")
    fleet.add_argument("--stations", type=cli_errors.whole(1, 10_000), default=3, help="how many (codes from 4001)")
    fleet.add_argument("--slots", type=cli_errors.whole(1, 99), default=8, help="slots per station")
    fleet.add_argument("--file", help="a YAML list of stations instead (simulator/stations/fleet.yaml)")
    fleet.add_argument("--mqtt", help="the broker (default MQTT_URL, else an embedded one started here)")
    fleet.add_argument("--heartbeat", type=cli_errors.positive(3600), default=60.0, help="seconds between hbs")
    fleet.set_defaults(func=cmd_sim_fleet)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli_errors.run(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
