"""What every webhook gets before its handler: its body read and held to ussd_app/adapters/bounds.py (a form
parsed and each field checked, a JSON body parsed and checked), and every 4xx counted by reason.

A handler behind `edge_guard` may read `await request.post()` (cached by aiohttp) or `await request.read()`
and json.loads it: the body already parsed within bounds.
"""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ussd_app import appkeys
from ussd_app.adapters.bounds import FORMS, Field, Rejected, check_form, check_json, check_json_fields
from ussd_app.metrics import Metrics

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A 4xx raised without a reason of its own is counted under its status.
STATUS_REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "rate_limited"}


def edge_guard(routes: list[web.RouteDef], json_answers: list[web.RouteDef],
               json_fields: dict[str, dict[str, Field]] | None = None):
    """Form routes (bounds.FORMS) and JSON routes (the rest of `routes`); `json_answers`: routes whose 400
    is a JSON object ({"error": ...}), as their other answers are; `json_fields`: a JSON route's field table
    (a USSD aggregator's, from its adapter)."""
    paths, as_json = {route.path for route in routes}, {route.path for route in json_answers}
    tables = json_fields or {}

    @web.middleware
    async def guard(request: web.Request, handler):
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else None
        if path in FORMS:
            await _check_form_body(request, path)
        elif path in paths:
            data = check_json(await request.read(), as_json=path in as_json)
            if path in tables:
                check_json_fields(tables[path], data, as_json=path in as_json)
        return await handler(request)
    return guard


async def _check_form_body(request: web.Request, path: str) -> None:
    if request.content_type not in FORM_TYPES:
        raise Rejected("wrong_content_type", "expected a form (application/x-www-form-urlencoded)")
    try:
        form = await request.post()
    except (ValueError, LookupError, HttpProcessingError) as exc:     # bad bytes, charset, multipart
        raise Rejected("unreadable", f"unreadable form: {type(exc).__name__}") from None
    check_form(path, form)


def count_rejections(routes: list[web.RouteDef]):
    """Middleware (outermost): each 4xx a webhook answers counts in http_rejections_total{endpoint,reason}."""
    paths = {route.path for route in routes}

    @web.middleware
    async def count(request: web.Request, handler):
        resource = request.match_info.route.resource
        endpoint = resource.canonical if resource is not None and resource.canonical in paths else None
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _count(request.app, endpoint, exc)
            raise
        _count(request.app, endpoint, response)
        return response
    return count


def _count(app: web.Application, endpoint: str | None, answer: web.StreamResponse) -> None:
    if endpoint is None or not 400 <= answer.status < 500:
        return
    reason = getattr(answer, "reason_code", None) or STATUS_REASONS.get(answer.status, str(answer.status))
    app[appkeys.METRICS].rejections.labels(endpoint, reason).inc()


class ParserErrorsInOneLine(logging.LoggerAdapter):
    """aiohttp's server logger for requests its HTTP parser refuses (a header over 8 KB, a broken request
    line): one WARNING line each, no traceback, and a count in /metrics. Anything else (our own 500s) keeps
    its traceback at ERROR."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self.metrics = metrics

    def exception(self, msg, *args, exc_info=True, **kwargs) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.metrics.rejections.labels("http", "bad_http").inc()
            self.warning(msg + ": %s %s", *args, exc_info.code, _first_line(exc_info.message))
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _first_line(message: object) -> str:
    return str(message).strip().splitlines()[0][:200] if str(message).strip() else ""
