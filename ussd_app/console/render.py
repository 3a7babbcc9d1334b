"""Rendering a console page: one template, its tables, and the same tables as CSV (`?format=csv&table=NAME`).

Every table a page shows is a `Table`; the page hands them to `page()`, which renders the template or, when
CSV is asked for, writes the named table (the first one by default) as a CSV file. So every table has its
export, and the export holds exactly what the page shows.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from numbers import Number
from typing import Any, Sequence

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup, escape

from ussd_app.console import access

NAV = web.AppKey("console_nav", list)          # (title, path, roles) of every page, in the bar's order
# A cell a spreadsheet would read as a formula is written with a leading quote (OWASP "CSV injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    name: str                                  # the CSV's file name and its ?table= key
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str = ""
    links: dict[int, str] = field(default_factory=dict)   # column index -> URL pattern, e.g. "/console/users/{}"
    empty: str = "Nothing here yet."

    def body_html(self) -> Markup:
        """The rows as the `table` macro shows them (numbers marked, linked columns linked, all escaped), built
        here: a template loop per cell took half of the Stations page at 2,000 stations (bench.console_stations)."""
        out = []
        for row in self.rows:
            cells = []
            for i, v in enumerate(row):
                if i in self.links and v is not None:
                    inner = f'<a href="{escape(self.links[i].format(v))}">{escape(v)}</a>'
                else:
                    inner = "" if v is None else escape(v)
                cells.append(f'<td class="num">{inner}</td>' if isinstance(v, Number) else f"<td>{inner}</td>")
            out.append(f"<tr>{''.join(cells)}</tr>\n")
        return Markup("".join(out))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def csv_response(table: Table) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    return web.Response(body=out.getvalue().encode(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'})


def page(request: web.Request, template: str, context: dict[str, Any], *tables: Table,
         status: int = 200) -> web.StreamResponse:
    """The page, or one of its tables as CSV (?format=csv[&table=NAME]); an unknown table is a 404."""
    if request.query.get("format") == "csv":
        wanted = request.query.get("table") or (tables[0].name if tables else "")
        for table in tables:
            if table.name == wanted:
                return csv_response(table)
        raise web.HTTPNotFound(text=f"No table {wanted!r} on this page.\n")
    who = request.get(access.OPERATOR)
    nav = [item for item in request.app[NAV] if who is not None and who.role in item[2]]
    base = {"operator": who, "csrf": request.get(access.CSRF, ""), "tables": {t.name: t for t in tables},
            "path": request.path, "query": request.query, "nav": nav,
            "csv_link": lambda table: csv_link(request, table)}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


PERIODS = {"1": "today", "7": "7 days", "30": "30 days"}     # ?days= on the dashboards


def period_days(request: web.Request) -> int:
    """The dashboards' ?days= (7 when absent or blank); anything else is a 400 line."""
    raw = request.query.get("days", "") or "7"
    if raw not in PERIODS:
        raise web.HTTPBadRequest(text=f"days must be one of {', '.join(PERIODS)}.\n")
    return int(raw)


def csv_link(request: web.Request, table: str) -> str:
    query = {**request.query, "format": "csv", "table": table}
    return str(request.rel_url.with_query(query))
