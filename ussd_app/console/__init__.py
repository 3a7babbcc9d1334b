"""The operator console: server-rendered pages under /console in the same aiohttp app (aiohttp-jinja2,
no JavaScript build). Each page module has `NAV = (title, path, roles)` and `routes()`; PAGES lists them in
the order of the navigation bar. Access, roles and CSRF: access.py; tables and CSV: render.py; charts: charts.py.
"""
from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ussd_app.console import (access, audit_page, carbon_page, clusters_page, funnel_page, health_page, login,
                              market_page, overview_page, payments_page, render, rentals_page, sms_page,
                              stations_page, users_page)

PAGES = [overview_page, funnel_page, market_page, payments_page, users_page, sms_page, clusters_page, stations_page,
         rentals_page, carbon_page, health_page, audit_page]


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("ussd_app.console", "templates"),
                         autoescape=jinja2.select_autoescape(default=True),
                         undefined=jinja2.StrictUndefined)
    app[render.NAV] = [page.NAV for page in PAGES]
    app.middlewares.append(access.guard)
    app.add_routes(login.routes())
    for page in PAGES:
        app.add_routes(page.routes())
