"""What the benchmarks share: a fake provider server in a process of its own, and an embedded Redis."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def fake_and_redis(module: str) -> Iterator[tuple[str, str]]:
    """(fake URL, Redis URL): `python -m <module> --serve-fake PORT` runs the fake, so it does not share
    this process's CPU time with what is measured."""
    from enerlectra.embedded_redis import EmbeddedRedis
    from enerlectra.ports import free_port

    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", module, "--serve-fake", str(port)])
    try:
        with tempfile.TemporaryDirectory(prefix="enerlectra-bench-redis-") as redis_home, \
                EmbeddedRedis.start(Path(redis_home)) as redis_server:
            _wait_for_port(port, fake)       # the fake's process starting (seconds on a loaded box)
            yield f"http://127.0.0.1:{port}", redis_server.url
    finally:
        fake.terminate()
        fake.wait()


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fake exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the fake did not listen on {port} within {seconds:.0f} s")
