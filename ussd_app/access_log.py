"""The web app's access log, without secrets: aiohttp's default line prints the request line, query included,
and webhooks carry WEBHOOK_TOKEN as `?token=`. This one prints the path only, the callback token masked.

Every server of ours that logs requests passes `RUNNER_KWARGS` to web.run_app / web.AppRunner (`serve` does;
the local sandboxes and fakes run with access_log=None and log nothing).
"""
from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from enerlectra.redact import redact_path


class RedactedAccessLogger(AbstractAccessLogger):
    """`remote "METHOD /path HTTP/1.1" status bytes seconds "user agent"`: no query, no referer."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)     # not even formatted when nobody listens

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        version = request.version
        self.logger.info('%s "%s %s HTTP/%s.%s" %s %s %.3fs "%s"', request.remote or "-", request.method,
                         redact_path(request.path), version.major, version.minor, response.status,
                         response.body_length, time, request.headers.get("User-Agent", "-"))


RUNNER_KWARGS = {"access_log_class": RedactedAccessLogger}
