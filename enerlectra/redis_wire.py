"""The session's scripts on a lean client: RESP written here, hiredis reading the answers, one connection.

Every hop runs two scripts (ussd_app/engine/store.py). Through redis-py a call costs the web process about
140 us of CPU, on the bare wire about 40 (`python -m bench.redis_client`): a quarter of a hop (issue 18).

What it keeps of enerlectra.redis_client's client, and shares with it:
- the breaker: one timeout opens it for BREAK_SECONDS, and `finishing()` goes past it;
- READ_TIMEOUT for an answer and CONNECT_TIMEOUT for a connect (which does not trip the breaker);
- a call that failed on a dropped or refused connection (a Redis restart) is sent again on a new one, with the
  same backoff and RETRIES; a timeout is not (a hung Redis stays hung);
- a script Redis no longer knows (a restart, SCRIPT FLUSH) is sent again by its body: Redis caches it then.

One connection carries every call in flight, pipelined: Redis answers a connection's commands in the order
sent, so answers are matched to calls first in, first out, and no call waits for a pooled connection. A
timeout fails every call on it and closes it: a hung Redis hangs them all, which is what the breaker assumes.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque

import hiredis
from redis._parsers import BaseParser
from redis.exceptions import ConnectionError, DataError, ResponseError, TimeoutError


class WireScript:
    """A Lua script called as redis-py's Script is: `await script(keys=[...], args=[...])`."""

    def __init__(self, wire: "ScriptWire", body: str):
        self.wire, self.body = wire, body.encode()
        self.sha = hashlib.sha1(self.body).hexdigest().encode()

    async def __call__(self, keys=(), args=()):
        return await self.wire.run(self, keys, args)


class ScriptWire:
    def __init__(self, breaker, policy, *, host: str = "127.0.0.1", port: int = 6379, path: str | None = None,
                 db: int = 0, username: str | None = None, password: str | None = None):
        """`breaker` and `policy` (read_timeout, connect_timeout, retries, backoff: read at each use) are
        redis_client's, which builds the wire: one breaker and one set of rules for both paths."""
        self.breaker, self.policy = breaker, policy
        self._address = (host, port, path)
        self._handshake = []
        if password:
            self._handshake.append(_command(b"AUTH", *((username,) if username else ()), password))
        if db:
            self._handshake.append(_command(b"SELECT", db))
        self._connection: _Connection | None = None
        self._opening: asyncio.Future | None = None

    def script(self, body: str) -> WireScript:
        return WireScript(self, body)

    async def run(self, script: WireScript, keys, args):
        tail = [len(keys), *keys, *args]
        for attempt in range(self.policy.retries + 1):
            self.breaker.check()
            try:
                connection = await self._connected()
                reply = await connection.call(_command(b"EVALSHA", script.sha, *tail))
                if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
                    reply = await connection.call(_command(b"EVAL", script.body, *tail))
                if isinstance(reply, ResponseError):
                    # As redis-py reads an error: -LOADING (a restarted Redis reading its dump), the clients'
                    # limit, NOAUTH are ConnectionErrors there (retried, then the hop's apology, rate limits'
                    # fail-open); as a bare ResponseError the Limiter let it out as a 500.
                    raise BaseParser.parse_error(str(reply))
            except ConnectionError:
                if attempt == self.policy.retries:
                    raise
                await asyncio.sleep(self.policy.backoff.compute(attempt + 1))
                continue
            return reply

    async def _connected(self) -> "_Connection":
        connection = self._connection
        if connection is not None and connection.failed is None:
            return connection
        # One connect for every call that found none, and its outcome theirs: behind a lock each waiter
        # connected in turn after a failed one, so a burst on a hanging connect waited n x CONNECT_TIMEOUT.
        # Shielded: a cancelled caller neither cancels the others' connect nor leaves a half-opened one.
        opening = self._opening
        if opening is None or opening.get_loop() is not asyncio.get_running_loop():
            opening = self._opening = asyncio.ensure_future(self._open())
            opening.add_done_callback(self._opened)
        return await asyncio.shield(opening)

    def _opened(self, opening: asyncio.Future) -> None:
        if self._opening is opening:
            self._opening = None
        if not opening.cancelled() and opening.exception() is None:
            self._connection = opening.result()

    async def _open(self) -> "_Connection":
        loop = asyncio.get_running_loop()
        host, port, path = self._address
        make = (lambda: _Connection(self.breaker, self.policy))
        try:
            if path:
                opening = loop.create_unix_connection(make, path)
            else:
                opening = loop.create_connection(make, host, port)
            _, connection = await asyncio.wait_for(opening, self.policy.connect_timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("Timeout connecting to Redis") from None
        except OSError as error:
            raise ConnectionError(f"Error connecting to Redis: {error.strerror or error}") from None
        for command in self._handshake:
            reply = await connection.call(command)
            if isinstance(reply, ResponseError):
                connection.close()
                raise ConnectionError(f"Redis refused the connection's setup: {reply}")
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Connection(asyncio.Protocol):
    """One pipelined connection: each call's future waits in `pending`, in the order sent."""

    def __init__(self, breaker, policy):
        self.breaker, self.policy = breaker, policy
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.pending: deque[tuple[asyncio.Future, float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.failed: Exception | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []             # commands of this loop turn, written in one send at its end

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                future = self.pending.popleft()[0]
                if not future.done():           # its caller may have been cancelled: the answer is dropped
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            self._fail(ConnectionError("Redis sent what is not RESP"))

    def connection_lost(self, exc) -> None:
        self._fail(ConnectionError("Redis closed the connection"))

    def call(self, command: bytes) -> asyncio.Future:
        if self.failed is not None:
            raise self.failed
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((future, time.monotonic()))
        if not self._out:                       # a send a call was a tenth of a busy web process's CPU
            loop.call_soon(self._flush)
        self._out.append(command)
        if self._watch is None:
            self._watch = loop.call_later(self.policy.read_timeout, self._check)
        return future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and not self.transport.is_closing():     # after a timeout (`failed`), still sent: awaited
            self.transport.write(b"".join(out))

    def _check(self) -> None:
        """The oldest call waiting past READ_TIMEOUT is a hung Redis. One timer per connection, moved to the
        oldest call's deadline, rather than one a call: the answers come in order, so the oldest is first.

        A late call fails alone (and trips the breaker); the calls sent after it keep their own READ_TIMEOUT,
        as each had on a redis-py connection of its own. Failing them all with the oldest failed a hop's save
        (finishing()) sent a moment before, to a Redis that answered it in time, and the abort could drop it
        unread: the step's money moved, the session not saved. The connection takes no new call (`failed`)
        and is closed once its last call is answered or late."""
        self._watch = None
        now = time.monotonic()
        for future, sent in self.pending:
            late = sent + self.policy.read_timeout - now
            if late > 0:
                self._watch = asyncio.get_running_loop().call_later(late, self._check)
                return
            self.breaker.trip()
            if self.failed is None:
                self.failed = TimeoutError("Timeout reading from Redis")
            if not future.done():
                future.set_exception(TimeoutError("Timeout reading from Redis"))
        if self.failed is not None:
            self._fail(self.failed)

    def _fail(self, error: Exception) -> None:
        if self.failed is None:
            self.failed = error
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._out = []
        while self.pending:
            future = self.pending.popleft()[0]
            if not future.done():               # this error, not the first: a drop after a timeout is retried
                future.set_exception(type(error)(*error.args))
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self._fail(ConnectionError("closed"))


def _command(*parts) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        if isinstance(part, str):
            raw = part.encode()
        elif isinstance(part, bytes):
            raw = part
        elif isinstance(part, (int, float)) and not isinstance(part, bool):
            raw = repr(part).encode()           # as redis-py writes numbers
        else:                                   # as redis-py refuses them: a bug of the caller's, not sent
            raise DataError(f"invalid input of type {type(part).__name__}")
        out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(out)


def script(client, body: str):
    """`body` as a script callable on `client`'s lean wire when it has one (enerlectra.redis_client's web
    client over TCP or a socket), else through redis-py (TLS, or a client of another kind)."""
    wire = getattr(client, "wire", None)
    return wire.script(body) if wire is not None else client.register_script(body)
