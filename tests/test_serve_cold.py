"""`serve`'s start-up beside the app's import (issue 18, cold start): a fresh home is still migrated (in a
forked child) before the first hop, a warm one starts without running Alembic, and a migration that fails
stops serve with its one line, leaving no embedded Redis or sandbox record behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from enerlectra.ports import free_port
from simulator import load


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_fresh_home_is_migrated_before_the_first_hop_and_a_warm_one_is_not_again(tmp_path, capfd,
                                                                                       workers):
    home = tmp_path / "home"
    for start, migrates in (("fresh", True), ("warm", False)):
        server = await load.start_server(workers, home, env={"LOG_LEVEL": "INFO"})   # a hop answered: tables
        assert server.stop() == 0
        err = capfd.readouterr().err
        assert ("Running upgrade" in err) == migrates, (start, err[-2000:])
        assert "Traceback" not in err


def test_a_failing_migration_stops_serve_with_one_line_and_leaves_nothing_running(tmp_path):
    home = tmp_path / "home-with-a-bad-database"
    home.mkdir(exist_ok=True)
    (home / "enerlectra.sqlite3").write_bytes(b"not a database, " * 256)
    env = {k: v for k, v in os.environ.items() if k not in load.NOT_INHERITED}
    done = subprocess.run([sys.executable, "-m", "ussd_app.cli", "serve", "--workers", "1", "--host", "127.0.0.1",
                           "--port", str(free_port())], env={**env, "ENERLECTRA_HOME": str(home),
                                                              "LOG_LEVEL": "WARNING"},
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"enerlectra: database sqlite+aiosqlite:///{(home / 'enerlectra.sqlite3').resolve()}: "
                     f"file is not a database"], done.stderr
    assert not (home / "sandboxes.json").exists()
    url_file = Path(home / "redis" / "redis.url")
    if url_file.exists():                       # the embedded Redis it started is stopped again
        from enerlectra.embedded_redis import _alive

        assert not _alive(url_file.read_text().strip())
