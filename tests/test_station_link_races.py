"""aiomqtt's socket callbacks racing a closed socket are one WARNING line, never a traceback; other errors in
loop callbacks still reach the handler that was there (station_link.quiet_socket_races)."""
from __future__ import annotations

import asyncio
import logging
import socket

from ussd_app.station_link import quiet_socket_races


def closed_fd() -> int:
    sock = socket.socket()
    fd = sock.fileno()
    sock.close()
    return fd


async def test_a_watch_on_a_closed_socket_is_one_warning(caplog):
    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    quiet_socket_races(loop)
    quiet_socket_races(loop)                       # twice: still one handler
    try:
        with caplog.at_level(logging.WARNING):
            loop.call_soon(loop.add_writer, closed_fd(), lambda: None)
            loop.call_soon(loop.add_reader, closed_fd(), lambda: None)
            await asyncio.sleep(0.05)
        lines = [r for r in caplog.records if r.name.startswith(("asyncio", "enerlectra"))]
        assert [r.levelno for r in lines] == [logging.WARNING] * 2
        assert all(r.exc_info is None and "closed before" in r.getMessage() for r in lines)
    finally:
        loop.set_exception_handler(before)


async def test_other_errors_still_reach_the_handler_there_was():
    loop = asyncio.get_running_loop()
    before, seen = loop.get_exception_handler(), []
    loop.set_exception_handler(lambda _loop, context: seen.append(context["exception"]))
    quiet_socket_races(loop)
    try:
        def broken() -> None:
            raise RuntimeError("a real bug")
        loop.call_soon(broken)
        await asyncio.sleep(0.05)
        assert [type(e) for e in seen] == [RuntimeError]
    finally:
        loop.set_exception_handler(before)
