"""Sessions in Redis: state + JSON data with a TTL, a per-session lock, a replay cache, resume pointers.

Keys carry the session id as a hash tag (`{sid}`) so one session's keys share a Redis Cluster slot
and can be read in one round trip. A hop costs four round trips: lock, load, save, unlock.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from ussd_app.engine.types import Session, UssdReply


@dataclass(frozen=True)
class Loaded:
    session: Session | None
    replay: UssdReply | None
    resume: Session | None      # the caller's last resumable screen, from an earlier session


def _session(raw: bytes | None) -> Session | None:
    return Session.from_json(json.loads(raw)) if raw else None


def _reply_to_str(reply: UssdReply) -> str:
    return reply.wire


def _reply_from_str(raw: str) -> UssdReply:
    return UssdReply(text=raw[4:], end=raw.startswith("END "))


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, ttl: int, resume_ttl: int,
                 lock_timeout_ms: int, lock_wait_ms: int):
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self.resume_ttl = resume_ttl
        self.lock_timeout = lock_timeout_ms / 1000
        self.lock_wait = lock_wait_ms / 1000

    def _key(self, sid: str, part: str) -> str:
        return f"{self.prefix}ussd:{{{sid}}}:{part}"

    def _resume_key(self, msisdn: str) -> str:
        return f"{self.prefix}ussd:resume:{msisdn}"

    def lock(self, sid: str) -> Lock:
        """Serialise hops of one session; a duplicate waits, then finds the reply in the replay cache."""
        return self.redis.lock(self._key(sid, "lock"), timeout=self.lock_timeout,
                               blocking_timeout=self.lock_wait, sleep=0.005)

    async def load(self, sid: str, text: str, msisdn: str) -> Loaded:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._key(sid, "s"))
            pipe.hget(self._key(sid, "r"), text)
            pipe.get(self._resume_key(msisdn))
            raw_session, raw_reply, raw_resume = await pipe.execute()
        return Loaded(
            session=_session(raw_session),
            replay=_reply_from_str(raw_reply.decode()) if raw_reply else None,
            resume=_session(raw_resume),
        )

    async def save(self, session: Session, text: str, reply: UssdReply, *, resumable: bool,
                   keep_resume: bool = False) -> None:
        """Store the session (or drop it on END), the reply for retransmissions, and the resume pointer.

        `resumable`: this screen is worth offering again if the call drops.
        `keep_resume`: leave the previous pointer alone (the resume offer itself, an internal error).
        """
        skey, rkey, resume_key = self._key(session.id, "s"), self._key(session.id, "r"), \
            self._resume_key(session.msisdn)
        blob = json.dumps(session.to_json(), separators=(",", ":"))
        async with self.redis.pipeline(transaction=False) as pipe:
            if reply.end:
                pipe.delete(skey)
            else:
                pipe.set(skey, blob, ex=self.ttl)
            pipe.hset(rkey, text, _reply_to_str(reply))
            pipe.expire(rkey, self.ttl)
            if not keep_resume:
                if resumable and not reply.end:
                    pipe.set(resume_key, blob, ex=self.resume_ttl)
                else:
                    pipe.delete(resume_key)
            await pipe.execute()

    async def memory_usage(self, sid: str) -> int:
        """Bytes Redis holds for one session's keys (for the bench and the closing note)."""
        total = 0
        for part in ("s", "r"):
            total += await self.redis.memory_usage(self._key(sid, part)) or 0
        return total
