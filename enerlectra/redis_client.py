"""Redis clients that survive a Redis restart and never wait long on a hung one.

A pooled connection to a Redis that restarted is dead; the next command on it fails. The clients here
ping a connection idle for HEALTH_CHECK_SECONDS before using it and retry a command that failed on a
connection error on a fresh connection, with a short backoff: a restart costs a hop a few milliseconds, not
an error. A timeout is not retried (a hung server stays hung): connect and read timeouts, once each, stay well
under the aggregator's 10 s. After one timeout the web app's client takes Redis as hung for BREAK_SECONDS and
fails every command at once (a breaker): hops queued behind the pool then answer in milliseconds instead of each
waiting their own READ_TIMEOUT in waves of POOL_SIZE.

The web client carries a lean wire beside redis-py's pool (`wire`, enerlectra/redis_wire.py) for the scripts
every hop runs, a third of redis-py's CPU a call; it keeps the same timeouts, retries and breaker.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Iterator

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

from enerlectra.redis_wire import ScriptWire

HEALTH_CHECK_SECONDS = 10       # a connection idle this long is pinged before use
RETRIES = 3                     # after the first try: a restart is over within them, a hung server is not
CONNECT_TIMEOUT = 3.0           # seconds: a loop busy with 300 hops opening 200 connections needed over 1 s (CI)
READ_TIMEOUT = 2.0              # no command of ours (scripts, pipelines) takes a tenth of it
# Only a dropped or refused connection (a restart) is retried. A timeout is a hung server: each retry waited
# READ_TIMEOUT again, so one command took 4 x 2 s and a hop on a fresh connection over 20 s, past the aggregator's
# 10 s (tests/test_review_redis_pool.py); the hop answers its apology after one READ_TIMEOUT instead.
RETRY_ON = [ConnectionError]
POOL_SIZE = 200                 # connections per web process; Redis allows 10,000 clients
POOL_WAIT = 2.0                 # seconds a command waits for a free pooled connection before it fails
BREAK_SECONDS = 1.0             # after a timeout, commands fail at once this long (then one wave tries again)


WIRE_OPTIONS = ("host", "port", "path", "db", "username", "password")     # what the lean wire takes of a URL


class RedisHung(TimeoutError):
    """Redis timed out a moment ago: this command failed without being sent. A TimeoutError, so every caller
    that handles a slow Redis (the hop's apology, rate limits' fail-open) handles this too, unchanged."""


_FINISHING = contextvars.ContextVar("redis_finishing", default=False)


@contextlib.contextmanager
def finishing() -> Iterator[None]:
    """Commands in this block (this task's) go past an open breaker: they finish work already started -- a
    hop's save and its lock's release after its step ran (money may have moved), the lock's renewal. The
    breaker sheds new work; a Redis that answers again within its second must still get the save, and a Redis
    still hung costs this command READ_TIMEOUT, as before the breaker."""
    token = _FINISHING.set(True)
    try:
        yield
    finally:
        _FINISHING.reset(token)


class _Breaker:
    """Open for BREAK_SECONDS after any timeout on the pool's connections; shared by one pool and its
    connections. Time-based, not success-based: nothing is sent while it is open, so nothing could succeed."""

    def __init__(self) -> None:
        self.open_until = 0.0

    def trip(self) -> None:
        self.open_until = time.monotonic() + BREAK_SECONDS

    def check(self) -> None:
        if time.monotonic() < self.open_until and not _FINISHING.get():
            raise RedisHung("Redis timed out less than a second ago; not sent")


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(cap=0.5, base=0.02)


class _Policy:
    """This module's rules for the lean wire, read at each use (tests change them for a case)."""

    def __init__(self) -> None:
        self.backoff = _backoff()

    read_timeout = property(lambda self: READ_TIMEOUT)
    connect_timeout = property(lambda self: CONNECT_TIMEOUT)
    retries = property(lambda self: RETRIES)


def _options() -> dict:
    return {"health_check_interval": HEALTH_CHECK_SECONDS, "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": READ_TIMEOUT, "retry_on_error": RETRY_ON}


class _TripsBreaker:
    """Connection mixin: a write or read timeout opens the pool's breaker (set per pool below), and while it is
    open nothing is connected or sent. The check sits here, at the socket, because a connection the pool hands
    out may first connect and handshake (HELLO, CLIENT SETINFO): that, too, waited READ_TIMEOUT.

    A connect timeout does not trip it: a hung Redis still completes TCP connects (the kernel's backlog takes
    them) and trips on the handshake's read, while a slow connect to a healthy Redis is a dropped SYN sent again
    after 1 s and 3 s: 300 dials at once on a loaded box (CI) met it, and one trip there refused every hop."""
    breaker: _Breaker

    async def connect(self, *args, **kwargs):
        self.breaker.check()
        return await super().connect(*args, **kwargs)

    async def send_packed_command(self, *args, **kwargs):
        self.breaker.check()
        try:
            return await super().send_packed_command(*args, **kwargs)
        except RedisHung:
            raise               # refused by the breaker (a handshake's send): not a new timeout
        except TimeoutError:
            self.breaker.trip()
            raise

    async def read_response(self, *args, **kwargs):
        try:
            return await super().read_response(*args, **kwargs)
        except TimeoutError:
            self.breaker.trip()
            raise


class _FailFastPool(redis.asyncio.BlockingConnectionPool):
    """A bounded pool that waits (see async_client), behind the breaker: a command does not queue for a
    connection while it is open (the connection's own check covers one that tripped while it queued)."""
    breaker: _Breaker

    async def get_connection(self, *args, **kwargs):
        self.breaker.check()
        return await super().get_connection(*args, **kwargs)


class _Client(redis.asyncio.Redis):
    """redis-py's client with the lean wire beside it (`wire`: enerlectra/redis_wire.py, the session's
    scripts), sharing its breaker; closed with it."""
    wire = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self.wire is not None:
            self.wire.close()
        await super().aclose(close_connection_pool)


class _DropAtOnce(redis.asyncio.Connection):
    """A dead connection is dropped without waiting for its close to finish. The pool replaces a dead pooled
    connection (after a Redis restart) outside the command's retries, and redis-py waits up to the connect
    timeout for the close: with a hundred hops on a busy loop that wait ran out and the hop got an error."""

    async def disconnect(self, nowait: bool = False, **kwargs) -> None:
        await super().disconnect(nowait=True, **kwargs)


def async_client(url: str) -> redis.asyncio.Redis:
    """The web app's client (sessions, locks, rate limits).

    Its pool is bounded and waits: with more hops in flight than POOL_SIZE, a command waits up to POOL_WAIT for
    a connection a finished command gives back. redis-py's default pool instead raises "Too many connections"
    at its limit (100 since redis-py 8), which turned a burst of a hundred sessions into error screens."""
    plain_tcp = {"connection_class": _DropAtOnce} if url.startswith("redis://") else {}   # not TLS, not a socket
    pool = _FailFastPool.from_url(
        url, max_connections=POOL_SIZE, timeout=POOL_WAIT,
        retry=AsyncRetry(_backoff(), RETRIES, tuple(RETRY_ON)), **plain_tcp, **_options())
    pool.breaker = _Breaker()
    # The URL chose the connection class (TCP, TLS or a socket); the breaker's mixin goes on whichever it is.
    pool.connection_class = type(f"Tripping{pool.connection_class.__name__}",
                                 (_TripsBreaker, pool.connection_class), {"breaker": pool.breaker})
    client = _Client.from_pool(pool)
    if not url.startswith("rediss://"):                     # TLS stays on redis-py's connections
        given = pool.connection_kwargs
        client.wire = ScriptWire(pool.breaker, _Policy(),
                                 **{name: given[name] for name in WIRE_OPTIONS if name in given})
    return client


def sync_client(url: str) -> redis.Redis:
    """rq's enqueueing client. Not for a worker's own dequeue connection: rq blocks on it for longer than
    READ_TIMEOUT and sets its own socket timeout (workers.main)."""
    return redis.Redis.from_url(url, retry=Retry(_backoff(), RETRIES, tuple(RETRY_ON)), **_options())
