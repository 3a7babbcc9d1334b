"""The Health page: Redis and SQL (with their answer times), rq's queues and workers, whether each provider
answers, and the last errors (failed jobs, SMS and advisor questions; payments waiting in review).

Every check is a probe bounded like /healthz (ussd_app.probes) and they all run side by side, so the page
answers within about 2 s whatever is down; a probe that fails shows its error and leaves its table empty."""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy import func, select, text

from enerlectra.db.models import AdvisorQuestion, Payment, SmsOutbox
from enerlectra.domain.money import format_money
from ussd_app import appkeys, probes
from ussd_app.console import access, health_checks, render

PATH = f"{access.PREFIX}/health"
NAV = ("Health", PATH, access.STAFF)
ERRORS = 20                 # rows per "last errors" table
REVIEW = 50                 # payments in review listed (oldest first: the longest waiting)


async def _timed(probe: Callable[[], Awaitable[Any]]) -> tuple[str, float, Any]:
    started = time.perf_counter()
    state, value = await probes.run(probe)
    return state, round((time.perf_counter() - started) * 1000, 1), value


def _megabytes(path: str) -> str:
    return f"{os.path.getsize(path) / 1e6:.1f} MB" if os.path.exists(path) else "0 MB"


async def _sql_detail(conn) -> str:
    """SQLite: the file's size (with its WAL); PostgreSQL: this database's open connections."""
    if conn.dialect.name == "sqlite":
        path = conn.engine.url.database or ""
        return f"file {_megabytes(path)} (WAL {_megabytes(path + '-wal')})"
    count = await conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
    return f"{count} connections to this database"


def _last_errors(db_read) -> Callable[[], Awaitable[dict[str, list]]]:
    async def read() -> dict[str, list]:
        async with db_read() as s:
            sms = (await s.execute(select(
                SmsOutbox.id, SmsOutbox.updated_at, SmsOutbox.kind, SmsOutbox.gateway, SmsOutbox.failure_reason,
                SmsOutbox.last_error).where(SmsOutbox.status == "failed")
                .order_by(SmsOutbox.id.desc()).limit(ERRORS))).all()
            questions = (await s.execute(select(
                AdvisorQuestion.id, AdvisorQuestion.created_at, AdvisorQuestion.topic, AdvisorQuestion.backend,
                AdvisorQuestion.attempts, AdvisorQuestion.error).where(AdvisorQuestion.status == "failed")
                .order_by(AdvisorQuestion.id.desc()).limit(ERRORS))).all()
            review = (await s.execute(select(
                Payment.reference, Payment.created_at, Payment.provider, Payment.direction, Payment.currency,
                Payment.amount, Payment.reason).where(Payment.state == "review")
                .order_by(Payment.id).limit(REVIEW))).all()
            counts = (await s.execute(select(
                select(func.count()).where(SmsOutbox.status == "failed").scalar_subquery(),
                select(func.count()).where(AdvisorQuestion.status == "failed").scalar_subquery(),
                select(func.count()).where(Payment.state == "review").scalar_subquery()))).one()
        return {"sms": [tuple(r) for r in sms], "questions": [tuple(r) for r in questions],
                "review": [(ref, at, provider, direction, format_money(amount, currency), reason)
                           for ref, at, provider, direction, currency, amount, reason in review],
                "counts": dict(zip(("failed SMS", "failed questions", "payments in review"), counts))}
    return read


def _none_is_news(state: str, rows: list | None, news: str) -> str:
    """A probe that answered with nothing where something should be (no worker at all) says so."""
    return news if state == "ok" and not rows else state


@access.allow(*NAV[2])
async def health(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings, queues = app[appkeys.SETTINGS], app[appkeys.DISPATCH].queues or {}

    async def sql() -> str:
        async with app[appkeys.DB_READ_ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
            return await _sql_detail(conn)

    (redis_state, redis_ms, _), (sql_state, sql_ms, sql_detail), (queue_state, _, queue_rows), \
        (worker_state, _, worker_rows), (jobs_state, _, job_rows), (errors_state, _, errors), providers = \
        await asyncio.gather(
            _timed(app[appkeys.REDIS].ping), _timed(sql),
            _timed(lambda: asyncio.to_thread(health_checks.queue_rows, queues)),
            _timed(lambda: asyncio.to_thread(health_checks.worker_rows, queues)),
            _timed(lambda: asyncio.to_thread(health_checks.failed_job_rows, queues, ERRORS)),
            _timed(_last_errors(app[appkeys.DB_READ])),
            health_checks.reach(health_checks.provider_urls(settings)))
    errors = errors or {"sms": [], "questions": [], "review": [], "counts": {}}
    checks = [("Redis", redis_state, redis_ms, "PING"), ("SQL", sql_state, sql_ms, sql_detail or ""),
              ("Queues", queue_state, None, f"{len(queue_rows or [])} queues"),
              ("Workers", _none_is_news(worker_state, worker_rows, "no worker: nothing queued runs"), None,
               f"{len(worker_rows or [])} workers"),
              ("Failed jobs", jobs_state, None, f"{len(job_rows or [])} listed"),
              ("Last errors in SQL", errors_state, None, "")]
    tables = [
        render.Table("checks", ["check", "state", "ms", "detail"], checks, title="Checks"),
        render.Table("queues", ["queue", "waiting", "running", "scheduled", "failed"], queue_rows or [],
                     title="Queues"),
        render.Table("workers", ["worker", "state", "queues", "seconds since heartbeat"], worker_rows or [],
                     title="Workers", empty="No worker is registered on these queues."),
        render.Table("providers", ["provider", "url", "state", "ms", "detail"], providers,
                     title="Providers (HEAD, any HTTP answer counts)"),
        render.Table("failed_jobs", ["ended", "queue", "job", "function", "error"], job_rows or [],
                     title=f"Newest failed jobs (at most {ERRORS})", empty="No failed job."),
        render.Table("failed_sms", ["id", "updated", "kind", "gateway", "reason", "last error"], errors["sms"],
                     title=f"Newest failed SMS (at most {ERRORS})", empty="No failed SMS."),
        render.Table("failed_questions", ["id", "asked", "topic", "backend", "attempts", "error"],
                     errors["questions"], title=f"Newest failed advisor questions (at most {ERRORS})",
                     empty="No failed question."),
        render.Table("review", ["reference", "created", "provider", "direction", "amount", "why"],
                     errors["review"], title="Payments in review (oldest first)", empty="No payment in review."),
    ]
    return render.page(request, "health.html", {"counts": errors["counts"]}, *tables)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, health)]
