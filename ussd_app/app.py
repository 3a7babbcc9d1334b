"""The aiohttp app factory: every resource opened and closed in a cleanup_ctx, views stay thin."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from enerlectra import i18n
from enerlectra.db.core_reads import make_reads
from enerlectra.db.engine import INLINE_BUSY_MS, Timeouts, make_engine, make_sessionmaker
from enerlectra.domain import ledger, ledger_key, work
from enerlectra.domain.rentals.hooks import RentalHooks
from enerlectra.domain.stations.hooks import NO_HOOKS
from enerlectra.embedded_redis import resolve_redis_url
from enerlectra.jobs import Dispatcher, make_queues, redis_client
from enerlectra.ratelimit import Limiter
from enerlectra.redis_client import async_client
from enerlectra.settings import Settings
from enerlectra.ussd.types import Services
from payments import setup as payments_setup
from ussd_app import appkeys, console, menu_tree, probes
from ussd_app.adapters import africastalking_sms, guards, meters, payments_callback, ratelimits
from ussd_app.aggregators import registry
from ussd_app.aggregators import view as ussd_view
from ussd_app.engine.core import Engine
from ussd_app.engine.store import SessionStore
from ussd_app.metrics import Metrics
from ussd_app.station_link import LinkDown, StationLink

log = logging.getLogger(__name__)


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    url, embedded = await asyncio.to_thread(resolve_redis_url, settings.redis_url, settings.home)
    app[appkeys.REDIS] = async_client(url)
    app[appkeys.LIMITER] = Limiter(app[appkeys.REDIS], settings.redis_prefix)
    enqueuer = redis_client(url)
    app[appkeys.DISPATCH] = Dispatcher(make_queues(enqueuer, settings.queue_name))
    try:
        yield
    finally:
        await app[appkeys.REDIS].aclose()
        enqueuer.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _db_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    bounds = Timeouts.from_settings(settings)
    engine = make_engine(settings.effective_database_url, schema=settings.database_schema, timeouts=bounds)
    reader = make_engine(settings.effective_database_url, schema=settings.database_schema, read_only=True,
                         timeouts=bounds)
    app[appkeys.DB_ENGINE], app[appkeys.DB_READ_ENGINE] = engine, reader
    # Units of work on DB hand their follow-ups (SMS, questions, payouts) to the job queues after commit.
    app[appkeys.DB] = work.with_jobs(make_sessionmaker(engine), app[appkeys.DISPATCH])
    app[appkeys.DB_READ] = make_sessionmaker(reader)
    app[appkeys.READS], in_place = make_reads(settings.effective_database_url, reader, INLINE_BUSY_MS)
    try:
        yield
    finally:
        await engine.dispose()
        await reader.dispose()
        if in_place is not None:
            in_place.dispose()


async def _payments_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        app[appkeys.PAYMENTS] = payments_setup.build(app[appkeys.SETTINGS], app[appkeys.DB], http,
                                                     db_read=app[appkeys.DB_READ])
        app[appkeys.PAYMENTS].may_ask = ratelimits.status_query_gate(app)     # callbacks' status queries
        yield


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    store = SessionStore(app[appkeys.REDIS], settings.redis_prefix, settings.session_ttl,
                         settings.resume_ttl, settings.lock_timeout_ms, settings.lock_wait_ms)
    services = Services(db=app[appkeys.DB], db_read=app[appkeys.DB_READ], settings=settings,
                        payments=app[appkeys.PAYMENTS], reads=app[appkeys.READS],
                        publish=lambda command: _publish_command(app, command))
    app[appkeys.ENGINE] = Engine(menu_tree.TREE, store, services, app[appkeys.METRICS])
    yield


async def _publish_command(app: web.Application, command) -> None:
    """A station command (ejects.Command: topic, payload) out through this process's link. Never raises: a
    command not published leaves its request pending, it goes unknown and the inventory decides (as
    StationLink.eject does); the renter's money waits on the station's answer, never on this call."""
    link = app.get(appkeys.STATION_LINK)
    if link is None:
        log.warning("no station link (MQTT_URL unset): %s not published", command.topic)
        return
    try:
        await link.publish(command.topic, command.payload)
    except LinkDown:
        log.warning("station link down: %s not published; the inventory decides", command.topic)


async def _stations_ctx(app: web.Application) -> AsyncIterator[None]:
    """The station link (ussd_app/station_link.py): the subscriber, or a publisher only in a web process of
    `serve --workers N` (one subscriber runs in a process of its own there)."""
    settings = app[appkeys.SETTINGS]
    hooks = app.get(appkeys.STATION_HOOKS, NO_HOOKS)     # the rental layer's, when it sets them before this
    link = app[appkeys.STATION_LINK] = StationLink(settings, app[appkeys.DB], hooks=hooks,
                                                   subscribe=settings.station_link_subscriber)
    task = asyncio.create_task(link.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def healthz(request: web.Request) -> web.Response:
    async def sql() -> None:
        async with request.app[appkeys.DB_ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))

    redis_state, sql_state = await asyncio.gather(probes.check(request.app[appkeys.REDIS].ping),
                                                  probes.check(sql))
    checks = {"redis": redis_state, "sql": sql_state}
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ok" if healthy else "fail", **checks}, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[appkeys.METRICS].exposed)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    ledger.use_key(ledger_key.load(settings))      # one key per process: every post below seals with it
    i18n.load_all()
    counters = Metrics()
    # A request aiohttp's parser refuses (a header over 8 KB) logs one line, not a traceback.
    app = web.Application(handler_args={"logger": guards.ParserErrorsInOneLine(counters)})
    app[appkeys.SETTINGS] = settings
    app[appkeys.METRICS] = counters
    app[appkeys.STATION_HOOKS] = RentalHooks(settings)     # rentals hear ejects and returns (and configure)
    app.cleanup_ctx.extend([_redis_ctx, _db_ctx, _payments_ctx, _engine_ctx])
    if settings.mqtt_url:
        app.cleanup_ctx.append(_stations_ctx)
    aggregators = app[appkeys.AGGREGATORS] = registry.enabled(settings)
    webhooks = [*ussd_view.routes(aggregators), *africastalking_sms.routes(), *payments_callback.routes(),
                *meters.routes()]
    app.add_routes(webhooks)
    app.add_routes(ussd_view.fallback_routes())     # any other /ussd/NAME: 404
    trusted = ratelimits.trusted_networks(settings.trusted_proxies)
    # Every 4xx counted; the webhook token first (a forged request spends nobody's budget), then the budget
    # per source address, then the body held to its bounds (ussd_app/adapters/bounds.py).
    app.middlewares.append(guards.count_rejections(webhooks))
    app.middlewares.append(ratelimits.webhook_limit(webhooks, trusted, open_routes=meters.routes(),
                                                    tokens=ussd_view.tokens(aggregators),
                                                    hop_routes=ussd_view.hop_paths(aggregators)))
    app.middlewares.append(guards.edge_guard(webhooks, json_answers=meters.routes(),
                                             json_fields=ussd_view.json_fields(aggregators)))
    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])
    console.setup(app)
    return app
