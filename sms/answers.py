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
import threading
from dataclasses import asdict

import redis

from sms.gateways import Delivery

log = logging.getLogger(__name__)
KEEP_SECONDS = 86_400        # longer than any lease and sweep; then the row has long been recorded


def _key(prefix: str, outbox_id: int) -> str:
    return f"{prefix}sms-answer:{outbox_id}"


def write(client: redis.Redis, prefix: str, gateway: str, by_id: dict[int, Delivery]) -> bool:
    """Journal one request's answers; False (and a log line) when Redis would not take them."""
    return write_many(client, prefix, [(gateway, by_id)])


def write_many(client: redis.Redis, prefix: str, entries: list[tuple[str, dict[int, Delivery]]]) -> bool:
    """Journal several requests' answers in one pipeline; False (and a log line) when Redis would not."""
    try:
        with client.pipeline(transaction=False) as pipe:
            for gateway, by_id in entries:
                for outbox_id, delivery in by_id.items():
                    pipe.set(_key(prefix, outbox_id), json.dumps({"gateway": gateway, **asdict(delivery)}),
                             ex=KEEP_SECONDS)
            pipe.execute()
        return True
    except redis.RedisError as exc:
        log.warning("could not journal %d SMS answer(s) (%s): a crash now would send them again",
                    sum(len(by_id) for _g, by_id in entries), type(exc).__name__)
        return False


class GroupJournal:
    """`write` for several sending threads at once: each waits until its answers are in Redis, but the
    answers that arrive while one pipeline is on its way go together in the next (group commit), so ten
    requests answered together cost one round trip, not ten. The window is what `write` has: a request's
    answers are journaled before its thread does anything else."""

    def __init__(self, client: redis.Redis, prefix: str):
        self.client, self.prefix = client, prefix
        self._cond = threading.Condition()
        self._pending: list[tuple[str, dict[int, Delivery]]] = []
        self._next = 0              # the group now filling
        self._written = -1          # the last group written
        self._writing = False

    def write(self, gateway: str, by_id: dict[int, Delivery]) -> None:
        with self._cond:
            mine = self._next
            self._pending.append((gateway, by_id))
            while self._written < mine:
                if not self._writing:          # lead: take everything waiting, write it outside the lock
                    self._writing, group, entries = True, self._next, self._pending
                    self._next, self._pending = self._next + 1, []
                    break
                self._cond.wait()
            else:
                return
        try:
            write_many(self.client, self.prefix, entries)
        finally:
            with self._cond:
                self._writing, self._written = False, group
                self._cond.notify_all()


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
