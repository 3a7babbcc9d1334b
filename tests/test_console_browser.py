"""The console in a real browser: Playwright driving Debian's Chromium (../shared/reference/protocols.md
section 14: no `playwright install`) against the real app on a loopback port. It logs in through the form,
opens every page the nav bar links, checks what each must show (a chart's SVG where there is one), resolves a
payment in review once the Payments page exists, and saves a screenshot of each page for CI
(ARTIFACTS_DIR, default .ci/artifacts/console/). Skipped, saying why, where there is no Chromium.

Every page in PAGES must be in an admin's nav bar; every linked page must answer 200 with a heading; a new page
gets a row in PAGES to say what else must be visible."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from enerlectra.db.models import AuditEntry, Payment
from tests import console_seeds
from tests.console_helpers import PASSWORD, add_operator
from tests.test_carbon import cluster
from tests.test_console_dashboards import fold_sessions
from ussd_app import appkeys
from ussd_app.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
async_api = pytest.importorskip("playwright.async_api", reason="Playwright is not installed: pip install -e '.[test]'")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (as root; .ci/run does)")


@dataclass(frozen=True)
class Expect:
    heading: str                  # a regular expression the page's <h1> matches (case-insensitive)
    visible: tuple[str, ...] = ()  # CSS selectors that must each be visible


CHART = "svg.chart"
PAGES = {
    "/console/overview": Expect("overview", (CHART,)),
    "/console/funnel": Expect("funnel", (CHART, "#table-funnel")),
    "/console/market": Expect("market", (CHART, "#table-offers", "#table-trades")),
    "/console/payments": Expect("payments", ("table",)),
    "/console/users": Expect("users", ("form",)),
    "/console/sms": Expect("sms", ("table",)),
    "/console/clusters": Expect("clusters", ("#table-clusters",)),
    "/console/stations": Expect("stations", ("a.csv",)),
    "/console/rentals": Expect("rentals", ("form",)),
    "/console/carbon": Expect("carbon", ("#table-countries", "#table-factors")),
    "/console/health": Expect("health", ("#table-checks", "#table-review", "#table-failed_sms")),
    "/console/audit": Expect("audit", ("form",)),
}
LANDING = "/console/overview"          # where an admin lands after logging in (login.home_of)


def artifacts() -> Path:
    folder = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / ".ci" / "artifacts" / "console")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot_name(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()) + ".png"


async def seed(app) -> str:
    """Something on every page: trades and a book, a failed SMS, and a deposit in review (its reference)."""
    seller, buyer = (await console_seeds.add_user(app, "+260971800011", "Bwalya"),
                     await console_seeds.add_user(app, "+260971800012", "Mutale"))
    await console_seeds.trade(app, seller, buyer, 500, 130)
    await console_seeds.order(app, seller, "sell", 300, 180)
    await console_seeds.order(app, buyer, "buy", 200, 110)
    await console_seeds.failed_sms(app)
    await fold_sessions(server_as_client(app))                  # sessions ended: the funnel has its charts
    await cluster(app[appkeys.DB], seller, "Kabwe Grid", "grid", datetime.now(timezone.utc), buyer)
    return await console_seeds.review_payment(app, await console_seeds.add_user(app), amount=7_500)


class server_as_client:
    """fold_sessions wants something with `.app` (a test client); the server's app will do."""
    def __init__(self, app):
        self.app = app


async def resolve_paid(page, base: str, app, reference: str) -> None:
    """Payments page: the review queue's "paid" button on our payment settles it, once, with an audit row."""
    await page.goto(base + "/console/payments")
    row = page.locator("tr", has_text=reference)
    page.once("dialog", lambda dialog: dialog.accept())              # a confirm() before a money action
    await row.get_by_role("button", name=re.compile(r"\bpaid\b", re.I)).first.click()
    await page.wait_for_load_state()
    confirm = page.get_by_role("button", name=re.compile(r"^\s*(confirm|yes)", re.I))
    if await confirm.count():                                         # a confirmation page instead
        await confirm.first.click()
        await page.wait_for_load_state()
    await page.screenshot(path=artifacts() / "console-payments-resolved.png", full_page=True)
    async with app[appkeys.DB_READ]() as s:
        state = await s.scalar(select(Payment.state).where(Payment.reference == reference))
        audited = await s.scalar(select(AuditEntry.id).where(AuditEntry.target.contains(reference)))
    assert state == "succeeded" and audited is not None, (state, audited)


async def test_an_admin_logs_in_and_opens_every_console_page_in_chromium(aiohttp_server, settings):
    server = await aiohttp_server(create_app(settings))
    app, base = server.app, str(server.make_url("")).rstrip("/")
    email = await add_operator(server, "admin")
    reference = await seed(app)
    out = artifacts()
    async with async_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-dev-shm-usage"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            await page.goto(base + "/console/health")                  # not logged in: the login form
            assert page.url.startswith(base + "/console/login?next=")
            await page.get_by_label("Email").fill(email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.screenshot(path=out / "console-login.png", full_page=True)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(base + "/console/health")           # back where it was going
            await page.goto(base + "/console/login")
            await page.get_by_label("Email").fill(email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(base + LANDING)

            links = await page.eval_on_selector_all("header a", "links => links.map(a => a.getAttribute('href'))")
            assert set(PAGES) <= set(links), links                      # every page an admin has, in the nav
            for path in links:
                response = await page.goto(base + path)
                assert response is not None and response.status == 200, (path, response and response.status)
                expect = PAGES.get(path, Expect("."))
                heading = await page.locator("h1").first.inner_text()
                assert re.search(expect.heading, heading, re.I), (path, heading)
                for selector in expect.visible:
                    assert await page.locator(selector).first.is_visible(), (path, selector)
                for chart in await page.locator(CHART).all():          # every chart drawn, not an empty box
                    box = await chart.bounding_box()
                    assert box and box["width"] > 100 and box["height"] > 50, (path, box)
                await page.screenshot(path=out / shot_name(path), full_page=True)
            assert reference in await (await page.goto(base + "/console/health")).text()

            await resolve_paid(page, base, app, reference)
            await page.get_by_role("button", name="Log out").click()
            await page.wait_for_url(re.compile(r".*/console/login$"))
        finally:
            await browser.close()
    assert (out / "console-market.png").stat().st_size > 1000
