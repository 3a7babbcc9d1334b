"""Checks every webhook gets before its handler: a body with a NUL character is refused with one line.

PostgreSQL text cannot hold U+0000 (SQLite can, so only one of our databases would fail, with a 5xx that
aggregators and providers retry forever). A form carries it as `%00`, JSON as `\\u0000`; multipart bodies are
left to their handler (reading them here would consume the stream).
"""
from __future__ import annotations

from aiohttp import web

_NUL = (b"\x00", b"%00", b"\\u0000")


def nul_guard(routes: list[web.RouteDef]):
    paths = {route.path for route in routes}

    @web.middleware
    async def guard(request: web.Request, handler):
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in paths and request.content_type != "multipart/form-data":
            body = (await request.read()).lower()          # kept by aiohttp: the handler reads it again
            if any(nul in body for nul in _NUL):
                raise web.HTTPBadRequest(text="the request holds a NUL character\n")
        return await handler(request)
    return guard
