"""The embedded Redis: the bundled binary starts, is reused by a second process, and stops."""
from __future__ import annotations

import redis

from enerlectra.embedded_redis import EmbeddedRedis, resolve_redis_url


def test_start_reuse_stop(tmp_path):
    with EmbeddedRedis.start(tmp_path) as first:
        assert first.owned
        client = redis.Redis.from_url(first.url)
        assert client.ping()
        second = EmbeddedRedis.start(tmp_path)             # another process would find the same server
        assert second.url == first.url and not second.owned
        pid = first.process.pid
    assert first.process is None
    try:
        client.ping()
        raise AssertionError(f"redis pid {pid} still answers after stop")
    except redis.ConnectionError:
        pass
    client.close()


def test_external_url_wins(tmp_path):
    assert resolve_redis_url("redis://example.invalid:6379/3", tmp_path) == ("redis://example.invalid:6379/3", None)
    assert not (tmp_path / "redis").exists()
