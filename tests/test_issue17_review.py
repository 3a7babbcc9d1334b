"""Independent review of issue 17 (kernel, walls, USSD aggregators as plug-ins, the unit of work).

Each test is one finding and FAILS on the merged code: it states what should hold. Real parts throughout: the
app through aiohttp's test client, real Redis, real SQL, each aggregator's own wire format
(simulator/wire.py). Severity and the suggested fix are in each docstring."""
from __future__ import annotations

import ast
import logging
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from enerlectra.db.models import User, UssdSessionEvent, Vote
from enerlectra.domain.clusters import proposals
from enerlectra.settings import AggregatorConfig
from simulator.wire import AfricasTalking, Arkesel, Beem, Hubtel
from tests.helpers import committed_only
from tests.test_aggregator_conformance import USER, Line
from tests.test_clusters import a_cluster, people
from tests.test_import_rules import MAY_IMPORT, ROOT, imports_of, modules
from ussd_app import appkeys
from ussd_app.access_log import RUNNER_KWARGS
from ussd_app.app import create_app

HOME = "Enerlectra - hi"
WALLET = "Money:"


async def _votes(client, user: User) -> int:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(select(func.count()).select_from(Vote).where(Vote.user_id == user.id))


# -- 1. money: a retransmission must never be a choice the user did not make --------------------------------

async def test_arkesel_retry_of_an_answered_hop_does_not_cast_a_vote_the_user_never_chose(client):
    """HIGH. Arkesel's hop id is our own count of the steps the session consumed (read from Redis as the hop
    arrives), so a retransmission of a hop that was already answered (its reply lost on the way back) runs as
    the NEXT input. The documented limit says "after a money step's END, that is the END again" -- but the
    screen after a menu pick is often a `1 Yes / 2 No` decision with no PIN: picking proposal 1 ("1") and
    Arkesel resending that hop casts a YES vote on a payout proposal the user never chose (votes decide
    payouts from the pool). Likewise `1 Confirm` on the deposit screen (no PIN) after an amount typed as "1".

    Fix (the house rule: idempotency keys come from what the aggregator resends, never from Redis state):
    Arkesel resends nothing that names the hop, so the engine must not take a decision from an input it cannot
    tell from a retry. E.g. the adapter marks its hops `hop_id_trusted=False` and the engine refuses, on such
    hops, an input equal to the previous one that arrives within the retry window (a short "Please reply
    again" screen, no step run); or every no-PIN decision screen (pvote, depconfirm) takes a key that is never
    the key of the pick before it. At the least, the conformance kit gets an Arkesel case for this."""
    db = client.app[appkeys.DB]
    chair, voter, third, fourth = await people(db, 4, first=950)
    cluster = await a_cluster(db, chair, [voter, third, fourth])
    async with committed_only(db) as s:
        chair_row = await s.get(User, chair.id)
        await proposals.open_(s, cluster, chair_row, "target", title="target", amount=3_000_00)
    line = Line(client, Arkesel(), voter.msisdn)
    assert HOME in await line.dial()
    await line.press("6", "3")                       # Community cluster -> Vote: the open proposals
    ballot = await line.press("1")                   # pick proposal 1: its ballot, "1 Yes / 2 No"
    assert "1 Yes" in ballot, ballot
    await line.resend()                              # Arkesel resends the pick (its reply was lost)
    assert await _votes(client, voter) == 0, "a retransmitted menu pick was counted as a YES vote"


# -- 2. edges: bounds, secrets in logs, sessions of other aggregators ---------------------------------------

async def test_a_ussd_aggregators_path_token_never_reaches_the_access_log(settings, caplog):
    """HIGH (a secret in a log line). The contract lets an aggregator carry its secret token in the path
    (`/ussd/beem/<token>`, `/ussd/africastalking/<token>`: view.paths), but the redacted access log
    (ussd_app/access_log.py -> enerlectra.redact.redact_path) masks only `/callback/<token>`. Every hop of an
    aggregator configured with a path token writes that token to the access log.

    Fix: redact_path masks the segment after `/ussd/<name>/` too (except the known `events` route), or the
    view's routes are told to the access logger (route name 'ussd-token' -> mask match_info['token'])."""
    token = "s3cret-beem-path-token"
    app = create_app(settings.with_(aggregators={"beem": AggregatorConfig(enabled=True, token=token)}))
    server = TestServer(app)
    await server.start_server(**RUNNER_KWARGS)            # the runner `serve` builds (TestClient starts none)
    async with TestClient(server) as client:
        wire = Beem()
        call = wire.new_call(USER, "*123#", "*123#", "")
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            resp = await client.post(f"/ussd/beem/{token}", json=wire.first(call))
            assert resp.status == 200, await resp.text()
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert logged, "the access log wrote nothing: the test did not see the line it checks"
    assert not any(token in line for line in logged), logged


@pytest.mark.parametrize("name,body", [
    ("beem", {"command": "terminate", "msisdn": "260971700003", "session_id": 1e200}),
    ("hubtel", {"Type": "release", "Mobile": "260971700003", "SessionId": 1e200}),
    ("arkesel", {"sessionID": 1e200, "msisdn": "260971700003", "newSession": True, "userData": "*123#"}),
])
async def test_a_number_shaped_session_id_is_held_to_the_fields_bound(client, name, body):
    """MEDIUM. check_json_fields bounds a field by `str(value)` ("1e+200": 6 characters), but the adapters
    read it through contract.get, which writes a whole float out in full (201 digits). The field bound (100)
    and the column (ussd_session_events.session_id String(128)) are passed by a 200+ character session id:
    SQLite stores it, PostgreSQL raises DataError (not IntegrityError) in view.session_over -> a 5xx the
    aggregator retries forever. Same for any Field read through `get` (msisdn, Sequence, userData...).

    Fix: check the bound on the text `get` returns (one normaliser for both), or refuse JSON floats for text
    fields (a session id is never a float)."""
    resp = await client.post(f"/ussd/{name}", json=body)
    if resp.status == 400:
        return                                                      # refused with a line: fine
    async with client.app[appkeys.DB]() as s:
        longest = await s.scalar(select(func.max(func.length(UssdSessionEvent.session_id))))
    live = [k.decode().partition("{")[2].rpartition("}")[0]
            async for k in client.app[appkeys.ENGINE].store.redis.scan_iter(match="*ussd:{*")]
    widest = max([longest or 0] + [len(k) for k in live])
    assert widest <= 128, f"a {widest}-character session id got past a 100-character bound"


async def test_an_africastalking_session_id_cannot_reach_another_aggregators_session(client):
    """MEDIUM. Session ids are namespaced per aggregator ("hubtel:<id>") so two cannot meet -- except Africa's
    Talking's, kept bare. An AT body whose sessionId is "hubtel:<id>" is that Hubtel session: here AT's
    end-of-session event ends a live Hubtel call (and an AT hop with the same msisdn would drive it). With the
    default configuration every aggregator shares WEBHOOK_TOKEN, so any of them can end or drive another's.

    Fix: refuse (400) an AT sessionId that starts with '<registered name>:' (cheap, keeps AT's keys), or
    namespace AT too with a one-release fallback read of the bare key."""
    line = Line(client, Hubtel(), USER)
    await line.dial()
    assert "name" in (await line.press("1")).lower()
    resp = await client.post("/ussd/africastalking/events", data={
        "sessionId": f"hubtel:{line.call.session_id}", "status": "Failed", "phoneNumber": USER})
    assert resp.status in (200, 400)
    after = await line.press("Mwila")
    assert after.startswith("CON "), f"an AT event ended a Hubtel session: {after}"


async def test_an_end_notice_from_another_number_does_not_end_the_session(client):
    """LOW. A hop from another number is refused (engine._answered), but a notice is not checked at all:
    a Hubtel `release` (or Beem `terminate`) naming a session with someone else's Mobile ends that session and
    records the stranger's number as the session's in ussd_session_events.

    Fix: view.session_over closes only when the notice's msisdn is the session's owner (store.close can take
    the msisdn and compare, under the lock it already takes); otherwise log and acknowledge."""
    line = Line(client, Hubtel(), USER)
    await line.dial()
    await line.press("1")
    notice = Hubtel().end_notice(line.call)
    notice["Mobile"] = "260961700009"
    resp = await client.post("/ussd/hubtel", json=notice)
    assert resp.status == 200
    after = await line.press("Mwila")
    assert after.startswith("CON "), f"a stranger's notice ended the session: {after}"


async def test_a_beem_continue_without_a_request_id_is_refused_not_answered_with_the_first_screen(client):
    """MEDIUM. payload.request_id is optional in Beem's table and read as "0" when absent, so a `continue`
    without it is hop "r0" -- the initiate's hop id -- and gets the first screen back from the replay cache:
    the user's input is dropped silently, every time (an integration that does not round-trip request_id is
    stuck on the first screen forever, with 200s and no error anywhere). Hubtel's Sequence is required.

    Fix: request_id required on `continue` (a one-line 400 naming payload.request_id), or log + count a
    continue whose request_id is not the one we sent."""
    line = Line(client, Beem(), USER)
    await line.dial()
    body = Beem().next(line.call, "1")
    del body["payload"]["request_id"]
    resp = await client.post("/ussd/beem", json=body)
    text = await resp.text()
    if resp.status == 400:
        assert "request_id" in text and "\n" not in text.strip()
        return
    assert "name" in Beem().read(line.call, text).text.lower(), f"the input was dropped: {text}"


async def test_the_beem_request_id_we_send_back_is_one_beem_may_send_us(client):
    """LOW. We answer request_id N with N + 1 and bound the incoming one to 2**31 - 1: a hop carrying the
    bound gets 2**31 back, and the next hop (Beem echoing it) is a 400: the session is dead. Fix: wrap around
    (N + 1 mod 2**31) or widen the bound to what we can send."""
    line = Line(client, Beem(), USER)
    line.call = Beem().new_call(USER, "*123#", "*123#", "")
    body = Beem().first(line.call)
    body["payload"]["request_id"] = 2**31 - 1
    await line.post(body)
    assert line.call.round_trip <= 2**31 - 1, line.call.round_trip
    assert "name" in (await line.press("1")).lower()


# -- 3. the walls ------------------------------------------------------------------------------------------

def test_the_import_rules_see_an_import_by_string(tmp_path):
    """LOW. The walls test reads `import` statements only. `importlib.import_module("ussd_app.app")` (or
    `__import__`) in the kernel passes it -- the very "features imported by string" the issue removed. Fix:
    imports_of also takes the string literal given to importlib.import_module/__import__ when it names a
    module of ours (and a source check that no other dynamic import exists)."""
    known = modules()
    scratch = tmp_path / "scratch.py"
    scratch.write_text('import importlib\n\n\ndef late():\n'
                       '    return importlib.import_module("ussd_app.app")\n')
    assert "ussd_app.app" in imports_of("enerlectra.scratch", scratch, known)


def test_every_package_of_ours_has_a_row_in_the_walls_table():
    """LOW. `bench/` is a package of ours (it imports enerlectra, payments, ussd_app) but has no row: a kernel
    module importing `bench.fakes` passes the walls test, and bench's own imports are never checked. Fix: a
    row for bench (a tool at the top, like the simulator), and this check that every top-level package is
    listed."""
    ours = {p.parent.name for p in ROOT.glob("*/__init__.py")
            if any(q.name != "__init__.py" for q in p.parent.rglob("*.py"))} - {"tests"}
    assert ours - set(MAY_IMPORT) == set()


# -- 4. readability: the contract says what is used ----------------------------------------------------------

def test_every_method_of_the_aggregator_contract_is_used_outside_it():
    """LOW (readability). `Aggregator.path` is never called (the engine calls engine.paths.advance with the
    hop's path_rule), so a newcomer writing the fifth adapter reads a hook that does nothing if overridden.
    `extra_routes` is the reverse: used (via getattr) but not declared on the contract. Also dead: core.py's
    `consumed_mark, new_input as _new_input  # noqa (kept importable)`, and view._as_handler wrapping a
    partial. Fix: drop Aggregator.path (or have the engine call it), declare extra_routes() -> [] on the
    contract."""
    contract = ROOT / "ussd_app" / "aggregators" / "contract.py"
    tree = ast.parse(contract.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Aggregator")
    methods = {f.name for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
               and not f.name.startswith("_")}
    others = "\n".join(p.read_text() for package in ("ussd_app", "simulator")
                       for p in (ROOT / package).rglob("*.py") if p != contract)
    unused = {m for m in methods if f".{m}(" not in others}
    assert unused == set(), f"contract methods nobody calls: {sorted(unused)}"
    assert "def extra_routes" in contract.read_text(), \
        "extra_routes is used (through getattr) but not in the contract"


# -- 1b. money: a money key must not outlive the session it was made in -------------------------------------

async def test_a_reused_beem_session_id_does_not_answer_a_new_transfer_with_the_old_one(client):
    """MEDIUM (conditional on the aggregator). Money keys are (session id, msisdn, hop id). Africa's Talking's
    session ids are unique; Beem's are short ("4574" in its own sample) and its request_id sequence restarts
    at 0 each session, which we number ourselves. If Beem ever gives a later call the same session_id (a
    counter wrapping, a restart), every hop of the new call has the old call's keys: the second transfer of
    the same shape is answered "Sent" from the first one's row and nothing moves (run blind: the user is told
    it was sent). Hubtel (GUID SessionId + Sequence from 1) and Arkesel have the same exposure.

    Fix: the money key of a latest-input aggregator also takes something the aggregator sends with every hop
    of THAT call only -- for Beem there is none, so bind the key to the session's first-hop time carried in
    our own round-trip value (request_id = a per-call nonce + hop count, still stateless and resent on
    retries), or refuse a money step whose key exists with a different amount/recipient than this one (and say
    so)."""
    from tests.test_aggregator_conformance import FRIEND, PIN, _registered
    from tests.test_wallet import fund, transfers

    wire = Beem()
    await _registered(client, wire, FRIEND, "Chipo")
    line = await _registered(client, wire, USER, "Mwila")
    await fund(client, USER, "100")
    await line.dial()
    sid = line.call.session_id
    assert "Sent" in await line.press("1", "2", FRIEND.replace("+260", "0"), "15", PIN)
    store = client.app[appkeys.ENGINE].store
    # the first call's keys expire (its TTL)
    await store.redis.delete(*[store._key(line.session_id, part) for part in ("s", "r", "end", "lock")])
    line.call = wire.new_call(USER, "*123#", "*123#", "")
    line.call.session_id = sid                          # a later call that Beem numbered the same
    await line.post(wire.first(line.call))
    second = await line.press("1", "2", FRIEND.replace("+260", "0"), "15", PIN)
    assert "Sent" in second, second
    assert await transfers(client) == 2, "the second call was told 'Sent' but no money moved"


# -- 1c. the unit of work: a follow-up recorded where nobody will hand it over ------------------------------

async def test_a_follow_up_recorded_outside_a_unit_of_work_is_refused_not_left_to_the_sweeper(client):
    """LOW-MEDIUM. The unit of work collects follow-ups on the session, but nothing says a session IS a unit
    of work: `async with db() as s, s.begin(): await outbox.add(s, ...)` (the shape a dozen modules still use
    for other writes) commits the row, records the follow-up on s.info, and drops it silently -- the SMS waits
    for the sweeper, which is exactly the "forgotten hand-off caught only late" the issue set out to end. The
    source check (test_unit_of_work) looks for enqueue calls, not for follow-ups recorded outside a unit of
    work.

    Fix: unit_of_work marks its session (s.info["enerlectra.uow"] = True); followups(s) raises (RuntimeError
    "record follow-ups inside unit_of_work") on a session without the mark. The CLI and tests open units of
    work too (their sink may be None)."""
    from enerlectra.domain import outbox

    db = client.app[appkeys.DB]
    with pytest.raises(RuntimeError):
        async with db() as s, s.begin():
            await outbox.add(s, USER, "a receipt nobody will hand to the queue", "receipt", essential=True)


def test_every_field_of_the_neutral_request_is_read_past_the_adapters():
    """LOW (readability). `UssdRequest.aggregator` is set by all four adapters and read nowhere (nor are
    `service_code` and `network_code` past the adapters: they were AT's fields, carried and never used). A
    newcomer must fill fields that do nothing. Fix: drop `aggregator` (the metrics take adapter.name already),
    or use it (the engine's log lines and the rate limiter's subject would gain from it)."""
    sources = "\n".join(p.read_text() for package in ("ussd_app", "enerlectra", "menus", "sms")
                        for p in (ROOT / package).rglob("*.py") if "aggregators" not in p.parts)
    assert re.search(r"\b(req|request|hop|parsed)\.aggregator\b", sources), \
        "UssdRequest.aggregator is never read"


async def test_an_africastalking_end_event_while_a_hop_holds_the_session_is_not_a_5xx(aiohttp_client,
                                                                                       settings):
    """MEDIUM. The generic view's notice path guards store.close (`except Exception`: Redis down or the lock
    busy -> logged, the notice still recorded, 200). Africa's Talking's own events handler, which this issue
    made close the session too, calls store.close bare: an end-of-session notification that arrives while a
    hop still holds the session's lock (a slow provider call; keep_alive renews the lock) waits lock_wait_ms
    and raises LockTimeout -> a 500 with a traceback, and AT retries it. Same with Redis down.

    Fix: the events handler reuses view.session_over's guarded close (one code path for every notice)."""
    client = await aiohttp_client(create_app(settings.with_(lock_wait_ms=200)))
    line = Line(client, AfricasTalking(), USER)
    await line.dial()
    store = client.app[appkeys.ENGINE].store
    held = await store.acquire(line.session_id, "a hop still running")        # a slow hop holds the lock
    try:
        resp = await client.post("/ussd/africastalking/events", data={
            "sessionId": line.session_id, "status": "Success", "phoneNumber": USER})
        text = await resp.text()
    finally:
        await store.release(line.session_id, held.token)
    assert resp.status < 500, (resp.status, text[:200])


def test_the_kernel_serves_no_http_and_fakes_nothing():
    """LOW (the walls). `enerlectra/sandbox.py` -- what every FAKE provider shares: failure injection, the
    /sim/ routes, serving itself on a loopback port -- sits in the kernel, the only module there importing
    aiohttp. It is simulator/sandbox code; it went down to the kernel because payments/sandboxes may not
    import the simulator. Fix: move it to payments/sandboxes/base.py (payments may import only the kernel, the
    simulator and bench may import payments), so the kernel stays domain + infrastructure and no web server.
    """
    kernel = [p for p in (ROOT / "enerlectra").rglob("*.py") if "migrations" not in p.parts]
    web = sorted(str(p.relative_to(ROOT)) for p in kernel
                 if re.search(r"^\s*(import aiohttp|from aiohttp)", p.read_text(), re.M))
    assert web == [], web


def test_a_new_aggregator_is_named_in_the_registry_not_again_in_the_cli():
    """LOW (readability: "one module + one table"). A fifth aggregator is in fact: its adapter, a line in
    registry.ADAPTERS, a Wire class + the WIRES tuple in simulator/wire.py, its table module, the TABLES tuple
    in test_aggregator_conformance.py -- and a hand-kept copy of the names in ussd_app/cli.py
    (AGGREGATOR_CHOICES, "# simulator/wire.py WIRES") that the README's "Adding an aggregator" does not
    mention: forget it and `sim --aggregator NEW` is refused by argparse. Fix: choices=sorted(ADAPTERS) (or
    WIRES), and let the conformance kit discover tests/aggregators/*.py instead of a second hand list."""
    tree = ast.parse((ROOT / "ussd_app" / "cli.py").read_text())
    literal = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "AGGREGATOR_CHOICES" for t in n.targets)
               and isinstance(n.value, (ast.Tuple, ast.List))]
    assert literal == [], "the CLI keeps its own list of aggregator names"


@pytest.mark.parametrize("wire", [Hubtel, Arkesel, Beem, AfricasTalking])
async def test_a_dial_string_shortcut_walks_a_few_parts_not_hundreds(client, wire):
    """LOW (cost per request). A first hop's dial string is walked part by part inside one hop, with no cap
    but the field's length: a 1000-character `*123*1*0*1*0...#` walks ~500 steps (each wallet screen reads
    SQL) in one request -- ~0.5 s on SQLite here, more on PostgreSQL over a network, and it counts as one hop
    for the rate limiter. Africa's Talking had this before; the three new adapters (Message/userData/response
    up to 1000 characters) have it too. No real dial string has more than a handful of parts (a USSD string
    is at most 182 characters and a menu is 3-4 levels deep).

    Fix: engine._open walks at most MAX_SHORTCUT_PARTS (say 8); a longer dial string opens the plain first
    screen (or an END "that code is too long")."""
    from tests.test_aggregator_conformance import _registered

    line = await _registered(client, wire(), USER, "Mwila")
    dial = "*123*" + "1*0*" * 248 + "1#"
    line.call = wire().new_call(USER, "*123#", dial, "1*0*" * 248 + "1")
    opened = await line.post(line.wire.first(line.call))
    assert WALLET not in opened, "a 497-part dial string was walked to its end in one hop"
