"""Loopback ports for the servers we start ourselves (embedded Redis, fakes, sandboxes, test apps).

A port found by binding port 0 comes from the kernel's ephemeral range, the same range outgoing
connections draw from: between "found free" and "bound by the server" a Redis or HTTP client can take
it, and the server fails with EADDRINUSE (CI lost a run to this). Ports picked below that range are
never handed to an outgoing connection, so only another listener could take one.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000          # below this live well-known services (and this machine's brokers)


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768      # Linux's default; macOS and others use 49152, above it


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_cursor: list[int] = []      # the next port to try; starts at a random place in each process


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range when there is room below it.

    Ports are handed out in turn from a random start, so two calls in one process never return the same
    port before the range wraps (random picks did: a plan of four sandboxes, none bound yet, got one twice)."""
    top = _ephemeral_start()
    if top - _LOWEST >= 1000:
        if not _cursor:
            _cursor.append(random.randrange(_LOWEST, top))
        for _ in range(top - _LOWEST):
            port = _cursor[0]
            _cursor[0] = port + 1 if port + 1 < top else _LOWEST
            if bindable(port):
                return port
    with socket.socket() as s:      # no room below (an unusual range): let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_socket(port: int = 0) -> socket.socket:
    """A socket bound to `port` on loopback (SO_REUSEADDR: a port whose last server left TIME_WAIT
    connections behind can be served again at once)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or free_port()))
    return sock
