"""How the simulated phone reaches the app: over HTTP to a running server, or to an in-process one.

Both speak the real wire format (form POST to /ussd/africastalking); in-process mode starts the
real app on a loopback port inside this process, on embedded defaults.
"""
from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import AsyncIterator

import aiohttp
from aiohttp import web

USSD_PATH = "/ussd/africastalking"


class SimError(RuntimeError):
    """The server answered something a handset cannot show (not 200, or not CON/END)."""


@dataclass(frozen=True)
class Reply:
    kind: str       # CON / END
    text: str

    @property
    def ended(self) -> bool:
        return self.kind == "END"

    def __str__(self) -> str:
        return f"{self.kind} {self.text}"


class HttpTransport:
    def __init__(self, base_url: str, token: str | None = None, client: aiohttp.ClientSession | None = None):
        self.url = base_url.rstrip("/") + USSD_PATH
        self.params = {"token": token} if token else {}
        self._client = client

    async def post(self, form: dict[str, str]) -> Reply:
        assert self._client is not None, "use HttpTransport inside `connect()`"
        async with self._client.post(self.url, data=form, params=self.params) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise SimError(f"HTTP {resp.status}: {body.strip()}")
        kind, _, text = body.partition(" ")
        if kind not in ("CON", "END"):
            raise SimError(f"not a USSD reply: {body!r}")
        return Reply(kind, text)


@contextlib.asynccontextmanager
async def connect(url: str | None = None, token: str | None = None, settings=None) -> AsyncIterator[HttpTransport]:
    """A transport to `url`, or to the real app started here on embedded defaults (or `settings`)."""
    async with aiohttp.ClientSession() as client:
        if url:
            yield HttpTransport(url, token, client)
            return
        from ussd_app.app import create_app
        from ussd_app.db.migrate import upgrade_async
        from ussd_app.settings import Settings

        settings = settings or Settings.from_env()
        if settings.is_embedded_db:
            settings.home.mkdir(parents=True, exist_ok=True)
            await upgrade_async(settings.effective_database_url)
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        try:
            yield HttpTransport(f"http://127.0.0.1:{port}", settings.webhook_token, client)
        finally:
            await runner.cleanup()
