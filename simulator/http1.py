"""A cheap HTTP/1.1 client for load: one keep-alive connection, one request at a time, written by hand.

aiohttp's client costs more CPU per request than our server's bare handler (issue 18: it hid most of the
gap), and a load generator sharing the box with the server must stay out of its way. This speaks just what
our webhooks answer: a status line, headers with Content-Length, a body. A dropped connection is opened again
on the next request.
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(RuntimeError):
    """The server closed the connection or answered something that is not HTTP/1.1 with a length."""


class Connection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url!r}: an http:// URL")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._head = (f"POST {self.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ").encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_form(self, body: bytes) -> tuple[int, bytes]:
        """POST `body` (already form-encoded) to the URL's path: (status, response body)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        try:
            self._writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
            return await self._response()
        except (OSError, asyncio.IncompleteReadError, HttpError):
            await self.close()
            raise

    async def get(self, path: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"not an HTTP status line: {lines[0][:80]!r}") from None
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise HttpError("chunked answers are not spoken here")
        if length is None:
            raise HttpError("an answer without Content-Length")
        body = await self._reader.readexactly(length)
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
