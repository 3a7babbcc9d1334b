"""Prometheus metrics, one registry per app (so tests can build many apps in one process).

`serve --workers N` runs N web processes: there prometheus-client's multiprocess mode is on (`use_multiprocess`,
before the fork), every process writes its counts to files under HOME/metrics, and /metrics on any process
answers the sum over all of them (a MultiProcessCollector reading those files).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess(path: Path) -> None:
    """Multiprocess mode for this process and the ones it forks from now on; `path` emptied first (files left
    by an earlier run would be counted). prometheus-client picks its value class when imported, from the
    environment; the CLI imported it already, so pick again (no metric exists yet: they are made per app)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    values.ValueClass = values.get_value_class()


def _multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and getattr(values.ValueClass, "_multiprocess", False) else None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hops = Counter("ussd_hops_total", "USSD hops answered", ["aggregator", "outcome"],
                            registry=self.registry)
        self.latency = Histogram(
            "ussd_hop_seconds", "Time from request to reply for one hop", ["aggregator"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.errors = Counter("ussd_errors_total", "Hops that failed, by kind", ["kind"],
                              registry=self.registry)
        self.sessions_started = Counter("ussd_sessions_started_total", "USSD sessions started",
                                        registry=self.registry)
        self.sessions_ended = Counter("ussd_sessions_ended_total", "USSD sessions we ended, by reason",
                                      ["reason"], registry=self.registry)
        self.replays = Counter("ussd_replays_total", "Retransmitted hops answered from the replay cache",
                               registry=self.registry)
        # result: the payment's state afterwards, or forged / unreadable / unknown_reference. A climbing
        # review count means a provider stopped signing (AzamPay) and an operator has work waiting.
        self.payment_callbacks = Counter("payment_callbacks_total", "Mobile-money callbacks, by what came of them",
                                         ["provider", "result"], registry=self.registry)
        # kind: ussd_session, ussd_hop, webhook_ip, sms_in, sms_reply, status_query (enerlectra/ratelimit.py)
        self.rate_limited = Counter("rate_limited_total", "Requests a rate limit refused, by kind", ["kind"],
                                    registry=self.registry)
        # endpoint: the webhook's route ("http": refused by the HTTP parser before any route); reason: what
        # was wrong (missing_field, too_long, nul, too_deep, bad_number, bad_date, not_json, forbidden, ...)
        self.rejections = Counter("http_rejections_total", "Webhook requests answered 4xx, by reason",
                                  ["endpoint", "reason"], registry=self.registry)
        # What /metrics shows: this app's registry, or in multiprocess mode every process's files.
        self.exposed = self.registry
        path = _multiprocess_dir()
        if path:
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed, path)
