"""A raw aiomqtt client playing the backend against fake stations: it sends commands and keeps, in order,
every message a station publishes (protocols.md s.12). Only the station's own topics count: amqtt 0.12 also
sends a connecting client the retained messages of topics it never subscribed to."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from urllib.parse import urlsplit

import aiomqtt


def eject(slot: int, pb: str, req_id: str | None = None, ttl: float = 30, **changes) -> dict:
    now = time.time()
    return {"v": 1, "type": "eject", "req_id": req_id or uuid.uuid4().hex, "rental_id": "R-1", "slot": slot,
            "pb": pb, "issued_at": int(now), "expires_at": now + ttl, **changes}


class Backend:
    def __init__(self, url: str, sid: str):
        parts = urlsplit(url)
        self.url, self.sid = url, sid
        self.client = aiomqtt.Client(parts.hostname, parts.port, identifier=f"backend-{uuid.uuid4().hex[:10]}",
                                     password=parts.password, username=parts.username)
        self.seen: list[tuple[str, dict, bool]] = []     # (hb|evt|status, body, retained) as they came
        self._more = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> "Backend":
        await self.client.__aenter__()
        for kind in ("status", "hb", "evt"):
            await self.client.subscribe(f"enx/v1/st/{self.sid}/{kind}", qos=1)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        mine = f"enx/v1/st/{self.sid}/+"
        async for message in self.client.messages:
            if message.topic.matches(mine) and not str(message.topic).endswith("/cmd"):
                kind = str(message.topic).rsplit("/", 1)[1]
                self.seen.append((kind, json.loads(message.payload), message.retain))
                self._more.set()

    async def send(self, command: dict | bytes | str, to: str | None = None) -> None:
        payload = command if isinstance(command, (bytes, str)) else json.dumps(command)
        await self.client.publish(to or f"enx/v1/st/{self.sid}/cmd", payload, qos=1)

    def bodies(self, kind: str, type: str | None = None) -> list[dict]:
        return [b for k, b, _ in self.seen if k == kind and (type is None or b.get("type") == type)]

    async def next(self, kind: str, type: str | None = None, after: int = 0, seconds: float = 5.0, **match) -> dict:
        """The first message of `kind` (and evt `type`, and fields equal to `match`) from index `after` on."""
        async def find():
            while True:
                for k, body, _ in self.seen[after:]:
                    if k == kind and (type is None or body.get("type") == type) \
                            and all(body.get(f) == v for f, v in match.items()):
                        return body
                self._more.clear()
                await self._more.wait()
        return await asyncio.wait_for(find(), seconds)

    async def quiet(self, seconds: float = 0.5) -> int:
        """Wait a while; how many messages had come before (an index for `next(after=...)`)."""
        mark = len(self.seen)
        await asyncio.sleep(seconds)
        return mark
