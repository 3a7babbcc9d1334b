"""The gateway's answer for each message of one request, written down before anything else.

A worker that dies after the gateway accepted a request and before the outbox rows record it would leave
them `sending`; the sweeper would send them all again. So the first thing after the gateway answers is one
Redis pipeline holding each message's outcome (message id, cost, status) by outbox id; the sweeper records
a journaled answer instead of sending again. What stays at-least-once is one request's messages, and only
when the worker dies between the gateway's answer and that one pipeline (or Redis is down then).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict

import redis

from sms.gateways import Delivery

log = logging.getLogger(__name__)
KEEP_SECONDS = 86_400        # longer than any lease and sweep; then the row has long been recorded


def _key(prefix: str, outbox_id: int) -> str:
    return f"{prefix}sms-answer:{outbox_id}"


def write(client: redis.Redis, prefix: str, gateway: str, by_id: dict[int, Delivery]) -> bool:
    """Journal one request's answers; False (and a log line) when Redis would not take them."""
    try:
        with client.pipeline(transaction=False) as pipe:
            for outbox_id, delivery in by_id.items():
                pipe.set(_key(prefix, outbox_id), json.dumps({"gateway": gateway, **asdict(delivery)}),
                         ex=KEEP_SECONDS)
            pipe.execute()
        return True
    except redis.RedisError as exc:
        log.warning("could not journal %d SMS answer(s) (%s): a crash now would send them again",
                    len(by_id), type(exc).__name__)
        return False


def read(client: redis.Redis, prefix: str, outbox_ids: list[int]) -> dict[int, tuple[str, Delivery]]:
    """The journaled (gateway, delivery) of each id that has one."""
    if not outbox_ids:
        return {}
    found: dict[int, tuple[str, Delivery]] = {}
    for outbox_id, raw in zip(outbox_ids, client.mget([_key(prefix, i) for i in outbox_ids])):
        if raw is None:
            continue
        data = json.loads(raw)
        gateway = data.pop("gateway")
        found[outbox_id] = (gateway, Delivery(**data))
    return found


def forget(client: redis.Redis, prefix: str, outbox_ids: list[int]) -> None:
    if outbox_ids:
        client.delete(*(_key(prefix, i) for i in outbox_ids))
