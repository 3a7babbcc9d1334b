"""What every fake provider shares: failure injection, decisions taken a moment later, the /sim/ controls
(pending prompts, approve/decline, fail), and serving itself on a loopback port."""
from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from enerlectra.ports import listening_socket


@dataclass
class Sandbox:
    failures: list[str] = field(default_factory=list)     # modes to apply, each once, in order of use
    submits: Counter = field(default_factory=Counter)     # reference -> how many times it was submitted
    _tasks: set = field(default_factory=set)

    def fail(self, mode: str, count: int = 1) -> None:
        self.failures.extend([mode] * count)

    def _take(self, mode: str) -> bool:
        """Use up one pending failure of this mode, if any."""
        if mode in self.failures:
            self.failures.remove(mode)
            return True
        return False

    async def call_back(self, url: str, body: dict) -> None:
        """POST `body` as JSON to `url`, as a provider's callback does; a refused or lost one is the
        provider's problem, not the fake's (it is retried, or not, by what the test does next)."""
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with aiohttp.ClientSession() as client:
                async with client.post(url, json=body, timeout=aiohttp.ClientTimeout(total=5)):
                    pass

    def _soon(self, delay: float, action: Callable[[], Awaitable[object]]) -> None:
        """Run `action` after `delay` seconds (a provider deciding, a report arriving)."""
        async def later() -> None:
            await asyncio.sleep(delay)
            await action()
        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- controls (not part of any provider's API) -----------------------------------------------

    async def decide(self, reference: str, approve: bool, reason: str | None = None):
        raise NotImplementedError

    async def post_decide(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        if data is None or "reference" not in data:
            return _refused(400, 'send JSON like {"reference": "...", "approve": true}')
        reference = str(data["reference"])
        try:
            txn = await self.decide(reference, bool(data.get("approve")), data.get("reason"))
        except KeyError:
            return _refused(404, f"no prompt has reference {reference!r}: GET /sim/pending/NUMBER lists them")
        return web.json_response({"reference": reference, "status": str(txn.status)})

    async def post_fail(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        try:
            mode, count = str(data["mode"]), int(data.get("count", 1))
        except (TypeError, KeyError, ValueError):
            return _refused(400, 'send JSON like {"mode": "payout_fail", "count": 1}')
        self.fail(mode, count)
        return web.json_response({"pending": self.failures})

    def control_routes(self) -> list[web.RouteDef]:
        routes = [web.post("/sim/fail", self.post_fail)]
        if hasattr(self, "get_pending"):
            routes += [web.get("/sim/pending/{msisdn}", self.get_pending), web.post("/sim/decide", self.post_decide)]
        return routes

    def app(self) -> web.Application:
        raise NotImplementedError


async def _json_object(request: web.Request) -> dict | None:
    """The body as a JSON object; None when it is not one (QA typing curl by hand gets a 400, not a 500)."""
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _refused(status: int, line: str) -> web.Response:
    return web.json_response({"error": line}, status=status)


@contextlib.asynccontextmanager
async def running(fake: Sandbox, port: int = 0) -> AsyncIterator[str]:
    """Serve `fake` on loopback (a free port unless given); yields its base URL."""
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    sock = listening_socket(port)
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        for task in list(fake._tasks):
            task.cancel()
        await runner.cleanup()


