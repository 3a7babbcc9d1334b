"""Typed keys for everything the app holds (aiohttp's AppKey: no stringly-typed lookups)."""
from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from enerlectra.db.core_reads import Reads
from enerlectra.jobs import Dispatcher
from enerlectra.ratelimit import Limiter
from enerlectra.settings import Settings
from payments.service import Payments
from ussd_app.engine.core import Engine
from ussd_app.metrics import Metrics
from ussd_app.station_link import StationLink

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
DB_ENGINE = web.AppKey("db_engine", AsyncEngine)
DB_READ_ENGINE = web.AppKey("db_read_engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker)
DB_READ = web.AppKey("db_read", async_sessionmaker)
ENGINE = web.AppKey("engine", Engine)
METRICS = web.AppKey("metrics", Metrics)
DISPATCH = web.AppKey("dispatch", Dispatcher)
PAYMENTS = web.AppKey("payments", Payments)
LIMITER = web.AppKey("limiter", Limiter)
READS = web.AppKey("reads", Reads)                  # Core reads for hot screens (enerlectra/db/core_reads.py)
AGGREGATORS = web.AppKey("aggregators", dict)       # name -> ussd_app.aggregators.contract.Aggregator (enabled)
STATION_LINK = web.AppKey("station_link", StationLink)   # only when MQTT_URL is set (serve sets it)
STATION_HOOKS = web.AppKey("station_hooks", object)     # what the link tells the rental layer (StationHooks)
