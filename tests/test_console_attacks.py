"""Review R1 of the console's core (issue 19): each attack that worked is pinned here, with the fix's test;
attacks that failed are kept too, so a later change cannot reopen them."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, select, update

from enerlectra.db.models import Cluster, Operator, User
from enerlectra.domain import operators
from tests import test_carbon
from tests.console_helpers import PASSWORD, add_operator, csrf_in, log_in, operator_client
from tests.test_carbon import ZM_SELLER
from ussd_app import appkeys
from ussd_app.app import create_app
from ussd_app.console import access, charts, render

world = test_carbon.world                       # the fixture: users, trades, meters, three clusters


def one_line(text: str) -> bool:
    return text.count("\n") <= 1 and "Traceback" not in text


# -- login: enumeration, lockout under concurrency, the KDF on every path ---------------------------------------

async def test_a_locked_account_and_an_unknown_email_answer_alike(aiohttp_client, settings):
    """Before: five wrong passwords on a real account said "locked", on an unknown email "wrong": so an
    attacker learned which emails are operators."""
    client = await aiohttp_client(create_app(settings.with_(console_login_max_failures=3)))
    await add_operator(client, "admin")
    answers = {}
    for email in ("admin@example.com", "nobody@example.com"):
        for _ in range(4):
            resp = await log_in(client, email, "not the password")
        answers[email] = (resp.status, await resp.text())
    assert answers["admin@example.com"] == answers["nobody@example.com"]


async def test_a_locked_account_still_runs_the_kdf(client, settings, monkeypatch):
    """Before: a locked account answered at once (no KDF), an unknown one after the KDF: a timing oracle.
    Counted with a wrapper around the real KDF (it still runs)."""
    await add_operator(client, "admin")
    runs = []
    real = operators.verify_password_async

    async def counted(password, hashed):
        runs.append(1)
        return await real(password, hashed)
    monkeypatch.setattr(operators, "verify_password_async", counted)
    db, cost = client.app[appkeys.DB], settings.console_kdf_cost
    for email in ("admin@example.com", "nobody@example.com"):
        for _ in range(settings.console_login_max_failures + 2):
            runs.clear()
            await operators.login(db, email, "not the password", cost=cost,
                                  max_failures=settings.console_login_max_failures, lock_minutes=5)
            assert runs == [1], email


async def test_many_guesses_at_once_get_no_more_tries_than_the_limit(aiohttp_client, settings):
    """Before: guesses fired together all read the account unlocked and all ran the KDF against its hash
    (13 tries where 3 are allowed; the right one among them got in). Now each claims its try before the KDF:
    the count stops at the limit, because only that many tries were checked."""
    client = await aiohttp_client(create_app(settings.with_(console_login_max_failures=3)))
    await add_operator(client, "admin")
    db, cost = client.app[appkeys.DB], settings.console_kdf_cost

    async def attempt(password: str) -> operators.Login:
        return await operators.login(db, "admin@example.com", password, cost=cost, max_failures=3, lock_minutes=5)
    results = await asyncio.gather(*(attempt(f"wrong guess {i:02d} long") for i in range(13)))
    assert all(r.who is None for r in results)
    async with db() as session:
        row = (await session.execute(select(Operator))).scalar_one()
    assert row.failed_logins == 3 and row.locked_until is not None
    assert (await attempt(PASSWORD)).who is None                    # and the lock holds


@pytest.mark.parametrize("typed", ["  Admin@Example.COM ", "ADMIN@EXAMPLE.COM"])
async def test_an_email_in_other_case_or_with_spaces_logs_in(client, typed):
    await add_operator(client, "admin")
    assert (await log_in(client, typed)).status == 302


async def test_x_forwarded_for_does_not_reset_the_rate_limit_without_a_trusted_proxy(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_(console_logins_per_ip=2)))
    statuses = []
    for i in range(3):
        page = await client.get("/console/login")
        resp = await client.post("/console/login", data={"csrf": csrf_in(await page.text()), "email": "x@example.com",
                                                         "password": "whatever password"},
                                 headers={"X-Forwarded-For": f"198.51.100.{i}"})
        statuses.append(resp.status)
    assert statuses == [403, 403, 429]


# -- sessions --------------------------------------------------------------------------------------------------

async def test_logging_in_again_ends_the_session_the_browser_had(aiohttp_client, client, settings):
    """Before: a second login in the same browser left the first session alive in Redis (its cookie
    overwritten, but whoever copied it kept a live session)."""
    await add_operator(client, "admin")
    await add_operator(client, "viewer")
    assert (await log_in(client, "admin@example.com")).status == 302
    first = client.session.cookie_jar.filter_cookies(client.make_url("/console"))["enx_console"].value
    assert (await log_in(client, "viewer@example.com")).status == 302
    redis = client.app[appkeys.REDIS]
    keys = [k async for k in redis.scan_iter(f"{settings.redis_prefix}console:s:*")]
    assert len(keys) == 1
    thief = await aiohttp_client(client.server)             # whoever copied the first cookie
    resp = await thief.get("/console/me", headers={"Cookie": f"enx_console={first}"}, allow_redirects=False)
    assert resp.status == 302


async def test_a_new_token_is_issued_at_login_whatever_cookie_came_in(client):
    await add_operator(client, "viewer")
    client.session.cookie_jar.update_cookies({"enx_console": "planted-by-attacker"}, client.make_url("/console"))
    resp = await log_in(client, "viewer@example.com")
    assert resp.cookies["enx_console"].value != "planted-by-attacker"


async def test_logout_ends_only_that_session(aiohttp_client, client):
    await add_operator(client, "viewer")
    other = await aiohttp_client(client.server)
    assert (await log_in(client, "viewer@example.com")).status == 302
    assert (await log_in(other, "viewer@example.com")).status == 302
    csrf = csrf_in(await (await client.get("/console/me")).text())
    await client.post("/console/logout", data={"csrf": csrf})
    assert (await client.get("/console/me", allow_redirects=False)).status == 302
    assert (await other.get("/console/me", allow_redirects=False)).status == 200


# -- CSRF ------------------------------------------------------------------------------------------------------

async def test_one_operators_csrf_token_does_not_work_in_anothers_session(aiohttp_client, client):
    mallory = await aiohttp_client(client.server)
    await operator_client(client, "admin")
    stolen = await operator_client(mallory, "viewer")
    resp = await client.post("/console/logout", data={"csrf": stolen}, allow_redirects=False)
    assert resp.status == 403


@pytest.mark.parametrize("how", ["header", "multipart"])
async def test_the_csrf_token_by_header_or_multipart_is_accepted(client, how):
    csrf = await operator_client(client, "viewer")
    if how == "header":
        resp = await client.post("/console/logout", headers={"X-CSRF-Token": csrf}, allow_redirects=False)
    else:
        import aiohttp
        form = aiohttp.FormData({"csrf": csrf}, default_to_multipart=True)
        resp = await client.post("/console/logout", data=form, allow_redirects=False)
    assert resp.status == 302


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_want_the_csrf_token_too(client, method):
    await operator_client(client, "admin")
    resp = await client.request(method, "/console/logout", allow_redirects=False)
    assert resp.status == 403 and one_line(await resp.text())


async def test_head_changes_nothing(client):
    await operator_client(client, "admin")
    assert (await client.head("/console/logout", allow_redirects=False)).status in (403, 405)
    assert (await client.get("/console/me", allow_redirects=False)).status == 200


# -- redirects and echoed input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("next_", ["/console/%0d%0aSet-Cookie:%20x=1", "/console/%0aX:1", "/console/%00"])
async def test_a_next_with_control_characters_injects_no_header(client, next_):
    """Held: yarl drops CR/LF from the Location it builds; the redirect stays on our pages, no header added."""
    await add_operator(client, "viewer")
    resp = await log_in(client, "viewer@example.com", next_=next_)
    assert resp.status == 302 and resp.headers["Location"].startswith("/console/")
    assert "x" not in resp.cookies and "X" not in resp.headers


@pytest.mark.parametrize("back", ["/console/clusters/x\r\nSet-Cookie: x=1", "https://evil.example/",
                                  "//evil.example/console/clusters/"])
async def test_the_back_field_never_leaves_the_clusters_pages(client, world, back):
    csrf = await operator_client(client, "admin")
    resp = await client.post("/console/meters/MTR-ZM-1/reset-baseline", data={"csrf": csrf, "back": back},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/console/clusters")
    assert "\n" not in resp.headers["Location"]


@pytest.mark.parametrize("path", ["/console/audit?action=<script>x</script>&actor=\"><svg/onload=1>",
                                  "/console/clusters/KXYZ1?done=reset-<script>",
                                  "/console/login?next=\"><script>x</script>"])
async def test_echoed_query_parameters_are_escaped(client, world, path):
    await operator_client(client, "admin")
    body = await (await client.get(path)).text()
    assert "<script>" not in body and "<svg/onload" not in body


async def test_a_404_echoing_the_path_is_plain_text_and_not_sniffed(client):
    """The one-line 404 repeats the code typed; as text/plain with nosniff no browser runs it as HTML."""
    await operator_client(client, "admin")
    resp = await client.get("/console/clusters/K7<b>x")
    assert resp.status == 404 and resp.content_type == "text/plain"
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"


async def test_console_pages_are_never_cached_nor_framed(client):
    """Before: no Cache-Control, so after logout the back button (or a shared proxy) showed members' numbers."""
    await operator_client(client, "viewer")
    for path in ("/console/me", "/console/audit", "/console/audit?format=csv", "/console/login"):
        resp = await client.get(path)
        assert resp.headers.get("Cache-Control") == "no-store", path
        assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), path


async def test_audit_before_and_after_are_escaped(client):
    await operator_client(client, "viewer")
    await add_operator(client, "support", email="x<script>alert(1)</script>@example.com")
    body = await (await client.get("/console/audit")).text()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


# -- robustness: malformed input gets one line, never a 500 ----------------------------------------------------

@pytest.mark.parametrize("body, content_type", [
    (b"csrf=\xff\xfe&email=\xc3(&password=x", "application/x-www-form-urlencoded"),
    (b"csrf=x&email=a&password=b", "application/x-www-form-urlencoded; charset=no-such-charset"),
    (b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nx\r\n", "multipart/form-data; boundary=b"),
    (b"csrf=" + b"a" * 2_000_000, "application/x-www-form-urlencoded"),
    (b"&".join([b"email=a"] * 20_000), "application/x-www-form-urlencoded"),
])
async def test_malformed_login_forms_get_a_4xx(client, body, content_type):
    await client.get("/console/login")
    resp = await client.post("/console/login", data=body, headers={"Content-Type": content_type})
    assert 400 <= resp.status < 500, (resp.status, (await resp.text())[:300])


@pytest.mark.parametrize("body, content_type", [
    (b"csrf=\xff\xfe", "application/x-www-form-urlencoded"),
    (b"csrf=x", "application/x-www-form-urlencoded; charset=no-such-charset"),
    (b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nx\r\n", "multipart/form-data; boundary=b"),
])
async def test_malformed_posts_in_a_session_get_one_line(client, body, content_type):
    await operator_client(client, "admin")
    resp = await client.post("/console/logout", data=body, headers={"Content-Type": content_type},
                             allow_redirects=False)
    assert 400 <= resp.status < 500 and one_line(await resp.text()), (resp.status, (await resp.text())[:300])


@pytest.mark.parametrize("query", ["action=%ff%fe", "format=csv&table=%ff", "action=" + "a" * 20_000,
                                   "&".join(["action=a"] * 2000)])
async def test_odd_query_strings_get_no_500(client, query):
    await operator_client(client, "viewer")
    resp = await client.get(f"/console/audit?{query}")
    assert resp.status < 500, (resp.status, (await resp.text())[:300])


# -- Redis down: a clear 503, not a traceback ------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("GET", "/console/me"), ("POST", "/console/login"),
                                          ("POST", "/console/logout")])
async def test_with_redis_down_the_console_answers_503_in_one_line(aiohttp_client, settings, own_redis,
                                                                   method, path):
    client = await aiohttp_client(create_app(settings.with_(redis_url=own_redis.url)))
    csrf = await operator_client(client, "admin")
    if path == "/console/login":            # the login form's own token (its page needs no Redis)
        csrf = csrf_in(await (await client.get("/console/login")).text())
    own_redis.stop()
    try:
        data = {"csrf": csrf, "email": "admin@example.com", "password": PASSWORD}
        resp = await client.request(method, path, data=data if method == "POST" else None, allow_redirects=False)
        assert resp.status == 503 and one_line(await resp.text()), (resp.status, (await resp.text())[:300])
    finally:
        own_redis.start()


# -- roles: every console route, GET and POST, for each role ---------------------------------------------------

ANY_ROLE = {"show", "submit", "logout", "me", "root"}     # the login, logout, account page, and / redirect


def console_routes(app) -> list[tuple[str, str, object]]:
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/console") and route.method in ("GET", "POST"):
            found.append((route.method, path, route.handler))
    return found


async def test_every_console_route_declares_its_roles(client):
    """A page added without @access.allow would be open to every role, a chair included."""
    undeclared = [(m, p) for m, p, h in console_routes(client.app)
                  if not getattr(h, "roles", None) and h.__name__ not in ANY_ROLE]
    assert undeclared == []


@pytest.mark.parametrize("role", ["admin", "support", "viewer", "chair"])
async def test_each_role_reaches_exactly_its_routes(client, world, role):
    """Every /console route, GET (page and CSV) and POST, is a 403 for a role it does not list and never
    a 403 or 5xx for one it does. The chair chairs the grid cluster."""
    people, clusters = world
    own = clusters["grid"].code
    csrf = await operator_client(client, role, cluster=own if role == "chair" else None)
    # a placeholder for every {name} a console route has (a new route's name: add it here)
    params = {"code": own, "serial": "MTR-ZM-1", "reference": "NO-SUCH-PAYMENT",
              "user_id": next(iter(people.values())).id}
    for method, path, handler in console_routes(client.app):
        roles = getattr(handler, "roles", None)
        if roles is None or path.endswith(("/login", "/logout")):
            continue
        url = path.format(**params)
        attempts = [client.get(url, allow_redirects=False), client.get(url + "?format=csv", allow_redirects=False)] \
            if method == "GET" else [client.post(url, data={"csrf": csrf}, allow_redirects=False)]
        for attempt in attempts:
            resp = await attempt
            if role in roles:
                assert resp.status not in (401, 403) and resp.status < 500, (method, url, resp.status)
            else:
                assert resp.status == 403 and one_line(await resp.text()), (method, url, resp.status)


@pytest.mark.parametrize("suffix", ["", "?format=csv", "?format=csv&table=members", "?format=csv&table=meters",
                                    "?format=csv&table=flagged", "?format=csv&table=proposals"])
async def test_a_chair_never_sees_another_cluster(client, world, suffix):
    _people, clusters = world
    await operator_client(client, "chair", cluster=clusters["grid"].code)
    for other in ("diesel", "kerosene"):
        resp = await client.get(f"/console/clusters/{clusters[other].code}{suffix}", allow_redirects=False)
        assert resp.status == 403 and clusters[other].name not in await resp.text()
    assert (await client.get(f"/console/clusters/{clusters['grid'].code}{suffix}")).status == 200


async def test_a_chair_moved_to_another_cluster_mid_session_loses_the_old_one(client, world):
    _people, clusters = world
    await operator_client(client, "chair", cluster=clusters["grid"].code)
    async with client.app[appkeys.DB]() as session, session.begin():
        await session.execute(update(Operator).values(cluster_id=clusters["diesel"].id))
    assert (await client.get(f"/console/clusters/{clusters['grid'].code}")).status == 403
    assert (await client.get(f"/console/clusters/{clusters['diesel'].code}")).status == 200


# -- output: what users typed, rendered in pages, CSV and charts -----------------------------------------------

XSS = '<img src=x onerror=alert(1)>"\'<script>alert(2)</script>'


async def test_names_users_typed_are_escaped_on_every_page(client, world):
    people, clusters = world
    async with client.app[appkeys.DB]() as session, session.begin():
        # within the columns' 40 characters (PostgreSQL holds them to it)
        await session.execute(update(User).values(name="<img src=x onerror=alert(1)>"))
        await session.execute(update(Cluster).values(name="\"'<script>alert(2)</script>", area="<img src=x>"))
    await operator_client(client, "admin")
    params = {"code": clusters["grid"].code, "serial": "MTR-ZM-1", "reference": "NO-SUCH-PAYMENT",
              "user_id": people[ZM_SELLER].id}
    pages = [p.format(**params) for m, p, _h in console_routes(client.app) if m == "GET"]
    assert f"/console/clusters/{clusters['grid'].code}" in pages
    for path in pages:
        body = await (await client.get(path)).text()
        assert "<script>" not in body and "<img" not in body, path
        if path.startswith("/console/clusters"):
            assert "&lt;script&gt;" in body, path            # the name is there, escaped
        if path.startswith("/console/clusters/"):
            assert "&lt;img src=x onerror" in body, path     # the member's name too


def test_charts_escape_their_labels_and_names():
    svg = charts.line_chart(XSS, [XSS, XSS], [charts.Series(XSS, [1, 2])]) + \
        charts.bar_chart(XSS, [(XSS, 3.0), ("</svg><script>", 1.0)])
    assert "<script>" not in svg and "<img" not in svg and svg.count("<svg") == svg.count("</svg>") == 2


@pytest.mark.parametrize("cell, written", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-12.5", "-12.5"), ("+260971234567", "+260971234567"), ("plain", "plain"), (None, ""), (-3, "-3"),
])
def test_csv_cells_a_spreadsheet_would_run_are_quoted(cell, written):
    assert render._cell(cell) == written


@pytest.mark.parametrize("wanted, landing", [
    ("/console/audit?action=x", "/console/audit?action=x"), ("/console", "HOME"), ("//evil.example/", "HOME"),
    ("/console/\\evil", "HOME"), ("/console/a\tb", "HOME"), ("/console/a\x00", "HOME"),
    ("https://evil.example/console/", "HOME"), ("/consolex/", "HOME"), (None, "HOME"), ("", "HOME"),
])
def test_local_path_keeps_only_our_own_paths(wanted, landing):
    assert access.local_path(wanted, "/console", "HOME") == landing


async def test_the_session_token_is_never_logged(client, caplog):
    caplog.set_level("DEBUG")
    await operator_client(client, "admin")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/console"))["enx_console"].value
    await client.get("/console/audit")
    await log_in(client, "admin@example.com", "a wrong password")
    assert token not in caplog.text and PASSWORD not in caplog.text


# "w" a wrong password, "R" the right one, "+N" N minutes later; "in" / "no" what each try answers (max 3, lock 10)
LOCK_STORIES = [
    ("w w R", "no no in"),
    ("w w w R", "no no no no"),
    ("w w w +11 R", "no no no in"),
    ("w w w +11 w R", "no no no no in"),               # after a lock has run out the count starts again
    ("w w w +11 w w w R", "no no no no no no no"),     # ... and locks again at the limit
    ("w w R w w R", "no no in no no in"),              # the right password clears the count
    ("w w w +9 R +2 R", "no no no no in"),             # still locked at 9 minutes, free at 11
]


@pytest.mark.parametrize("story, answers", LOCK_STORIES)
async def test_lock_stories(client, settings, story, answers):
    from datetime import datetime, timedelta, timezone
    await add_operator(client, "admin")
    now, got = datetime.now(timezone.utc), []
    for step in story.split():
        if step.startswith("+"):
            now += timedelta(minutes=int(step[1:]))
            continue
        result = await operators.login(client.app[appkeys.DB], "admin@example.com",
                                       PASSWORD if step == "R" else "a wrong password", now=now,
                                       cost=settings.console_kdf_cost, max_failures=3, lock_minutes=10)
        got.append("in" if result.who else "no")
    assert " ".join(got) == answers


async def test_a_deleted_operators_session_does_not_pass_to_whoever_gets_their_id(client):
    """SQLite hands a deleted row's id (the highest) to the next row: before, the viewer's old session then
    opened the new admin's account."""
    await operator_client(client, "viewer")
    async with client.app[appkeys.DB]() as session, session.begin():
        await session.execute(delete(Operator))
    await add_operator(client, "admin")
    assert (await client.get("/console/me", allow_redirects=False)).status == 302      # to the login


async def test_each_request_restarts_the_idle_clock(client, settings):
    await operator_client(client, "viewer")
    redis = client.app[appkeys.REDIS]
    [key] = [k async for k in redis.scan_iter(f"{settings.redis_prefix}console:s:*")]
    await redis.expire(key, 5)                                      # nearly idle
    assert (await client.get("/console/me")).status == 200
    assert await redis.ttl(key) > settings.console_session_minutes * 60 - 5


@pytest.mark.parametrize("email", ["\u0430dmin@example.com",          # Cyrillic a: looks like admin@
                                   "admin@ex\u0430mple.com", "\uff41dmin@example.com", "admin\u200b@example.com"])
def test_an_operator_email_with_look_alike_letters_is_refused(email):
    """Before: accepted, so a second account could pass for admin@example.com in the audit log."""
    with pytest.raises(operators.OperatorError):
        operators.normal_email(email)
