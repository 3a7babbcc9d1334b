"""Console test helpers: make an operator, log in as them through the real login form, read the CSRF token a
page carries (every POST needs it) and the key a form carries; a second browser on the same app."""
from __future__ import annotations

import contextlib
import re
from typing import AsyncIterator

import aiohttp

from enerlectra.domain import operators
from ussd_app import appkeys

PASSWORD = "a long test password"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_FORM_KEY = re.compile(r'name="key" value="([^"]+)"')


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def form_key_in(html: str) -> str:
    """The idempotency key a form was drawn with (the energy credit's)."""
    found = _FORM_KEY.search(html)
    assert found, "no key field on the page"
    return found.group(1)


@contextlib.asynccontextmanager
async def browser(client) -> AsyncIterator[aiohttp.ClientSession]:
    """Another browser (a cookie jar of its own) on `client`'s server: several operators at once."""
    async with aiohttp.ClientSession(base_url=str(client.make_url("/")),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def add_operator(client, role: str, email: str | None = None, cluster: str | None = None) -> str:
    email = email or f"{role}@example.com"
    settings = client.app[appkeys.SETTINGS]
    await operators.add(client.app[appkeys.DB], email, role, PASSWORD, cost=settings.console_kdf_cost,
                        cluster_code=cluster)
    return email


async def log_in(client, email: str, password: str = PASSWORD, next_: str = ""):
    """POST the login form as a browser would (its CSRF cookie and field); returns the response, unfollowed.
    `client`: the test client, or a `browser`."""
    page = await client.get("/console/login")
    token = csrf_in(await page.text())
    path = "/console/login" + (f"?next={next_}" if next_ else "")
    return await client.post(path, data={"csrf": token, "email": email, "password": password},
                             allow_redirects=False)


async def operator_client(client, role: str, cluster: str | None = None) -> str:
    """Log `client` in as a new operator with `role`; returns the session's CSRF token (from a page)."""
    email = await add_operator(client, role, cluster=cluster)
    resp = await log_in(client, email)
    assert resp.status == 302, await resp.text()
    return csrf_in(await (await client.get("/console/me")).text())
