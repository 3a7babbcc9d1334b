"""Sessions in Redis: state + JSON data with a TTL, a per-session lock, a replay cache, resume pointers.

Keys carry the session id as a hash tag (`{sid}`) so one session's keys share a Redis Cluster slot.
A hop costs two round trips: one script takes the lock and reads the session and the replay cache;
one pipeline writes the resume pointer, then one script writes the session and the reply and releases the lock.
A new session adds one read (the caller's resume pointer lives under their number, not the session).

Bytes per live session (issue 18: at most 600): the session is compact JSON (types.Session.to_json), and the
replay cache keeps the replies of the last two hop ids -- the retry of the latest hop, and a late retry of the
one before it arriving after the next was answered (tests/test_aggregator_conformance.py, the probe). Plain
strings: a hash with a value over 64 bytes leaves Redis's compact encoding and takes several times the room.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from enerlectra import faults
from enerlectra.domain import ledger
from enerlectra.ussd.types import Session, UssdReply

# Take the lock; when it is ours, read the session, the replay cache, and the END the session ended with (if
# it did). A lock already holding our token is ours: the Redis client retries a call whose reply was lost, and
# that retry must not wait out its own lock. KEYS: lock, session, replay cache, END. ARGV: token, lock ms.
_ACQUIRE_AND_LOAD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', KEYS[1]) == ARGV[1] then
  return {1, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
end
return {0}
"""
# Write the session (or drop it and keep its END), the replay cache, release the lock if still ours.
# KEYS: lock, session, replay cache, END. ARGV: token, TTL s, the replay cache, the session ('' on END),
# the END kept ('' none).
_SAVE_AND_RELEASE = """
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[2]) else redis.call('DEL', KEYS[2]) end
if ARGV[5] ~= '' then redis.call('SET', KEYS[4], ARGV[5], 'EX', ARGV[2]) end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
# Keep a lock we still own alive while a slow hop (a provider call) runs.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# Release only a lock we still own (it may have timed out and been taken by another hop).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LockTimeout(Exception):
    """Another hop of this session held the lock for longer than we wait."""


@dataclass
class Loaded:
    token: str                  # proves we hold the lock
    session: Session | None
    replay: UssdReply | None
    ended: Ended | None = None  # the session ended: every later hop gets this END
    recent: list[str] = field(default_factory=list)     # the replay cache: [field, reply] of the last two hops


@dataclass(frozen=True)
class Ended:
    """What is kept of a session after its END: whose it was and the END it answers from now on."""

    msisdn: str
    reply: UssdReply
    secret_steps: tuple[int, ...] = ()      # which inputs were PINs (the end-of-session event masks them)

    def dump(self) -> str:
        return json.dumps({"msisdn": self.msisdn, "reply": self.reply.wire, "secret": list(self.secret_steps)})

    @classmethod
    def load(cls, raw: bytes | None) -> "Ended | None":
        if not raw:
            return None
        data = json.loads(raw)
        return cls(data["msisdn"], _reply_from_str(data["reply"].encode()), tuple(data.get("secret", ())))


def _pack(text: str) -> bytes:
    """zlib when it is shorter (a screen's words repeat across the session and its replies): Redis bytes."""
    raw = text.encode()
    packed = zlib.compress(raw, 6)
    return packed if len(packed) < len(raw) else raw


def _unpack(raw: bytes) -> bytes:
    return zlib.decompress(raw) if raw[:1] == b"x" else raw      # JSON starts with { or [, zlib with x


def _session(raw: bytes | None) -> Session | None:
    return Session.from_json(json.loads(_unpack(raw))) if raw else None


def _text_field(hop_id: str) -> str:
    """The replay cache's field for a hop id: a keyed digest, since Africa's Talking's (its text) carries the
    PINs typed. 64 bits: it tells apart the two hop ids a session keeps."""
    return ledger.keyed_digest("replay", hop_id)[:16]


def _reply_from_str(raw: bytes) -> UssdReply:
    text = raw.decode()
    return UssdReply(text=text[4:], end=text.startswith("END "))


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, ttl: int, resume_ttl: int,
                 lock_timeout_ms: int, lock_wait_ms: int):
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self.resume_ttl = resume_ttl
        self.lock_timeout_ms = lock_timeout_ms
        self.lock_wait = lock_wait_ms / 1000
        self._acquire = redis.register_script(_ACQUIRE_AND_LOAD)
        self._release = redis.register_script(_RELEASE)
        self._save = redis.register_script(_SAVE_AND_RELEASE)
        self._extend = redis.register_script(_EXTEND)

    def _key(self, sid: str, part: str) -> str:
        """lock, s (the session), rp (the replay cache; `r` was a hash before issue 18), end (the END it ended
        with)."""
        return f"{self.prefix}ussd:{{{sid}}}:{part}"

    def _resume_key(self, msisdn: str) -> str:
        return f"{self.prefix}ussd:resume:{msisdn}"

    async def acquire(self, sid: str, hop_id: str) -> Loaded:
        """Lock the session and load it. A duplicate hop (same hop id) waits here, then finds the replay."""
        token = secrets.token_hex(8)
        keys = [self._key(sid, "lock"), self._key(sid, "s"), self._key(sid, "rp"), self._key(sid, "end")]
        deadline = time.monotonic() + self.lock_wait
        while True:
            got = await self._acquire(keys=keys, args=[token, self.lock_timeout_ms])
            if got[0] == 1:
                recent = json.loads(_unpack(got[2])) if got[2] else []
                wanted = _text_field(hop_id)
                replay = next((_reply_from_str(recent[i + 1].encode()) for i in range(0, len(recent) - 1, 2)
                               if recent[i] == wanted), None)
                return Loaded(token, _session(got[1]), replay, Ended.load(got[3]), recent)
            if time.monotonic() > deadline:
                raise LockTimeout(sid)
            await asyncio.sleep(0.005)

    async def release(self, sid: str, token: str) -> None:
        await self._release(keys=[self._key(sid, "lock")], args=[token])

    async def keep_alive(self, sid: str, token: str) -> None:
        """Renew the lock every third of its timeout until cancelled: a hop waiting on a slow provider keeps
        its session, so a retransmission waits for the stored reply instead of running the step again."""
        every = self.lock_timeout_ms / 3000
        while True:
            await asyncio.sleep(every)
            if not await self._extend(keys=[self._key(sid, "lock")], args=[token, self.lock_timeout_ms]):
                return

    async def secret_steps(self, sid: str) -> set[int] | None:
        """Which inputs of the session were PINs (positions in the `*`-joined text), while we remember the
        session (ended or not); None once it is forgotten."""
        ended_raw, live_raw = await self.redis.mget(self._key(sid, "end"), self._key(sid, "s"))
        known = Ended.load(ended_raw) or _session(live_raw)
        return set(known.secret_steps) if known is not None else None

    async def resume_point(self, msisdn: str) -> Session | None:
        return _session(await self.redis.get(self._resume_key(msisdn)))

    async def save(self, session: Session, hop_id: str, reply: UssdReply, token: str, *, resumable: bool,
                   keep_resume: bool = False, recent: list[str] | None = None) -> None:
        """Store the session (or drop it on END), the reply for retransmissions, the resume pointer;
        then release the lock, all in one round trip.

        `resumable`: this screen is worth offering again if the call drops.
        `keep_resume`: leave the previous pointer alone (the resume offer itself, an internal error).
        `recent`: the replay cache as loaded (`Loaded.recent`): this hop's reply goes first, the one before stays.
        """
        blob = _pack(json.dumps(session.to_json(), separators=(",", ":"), ensure_ascii=False))
        ended = ""
        if reply.end and not faults.on("end_not_remembered"):
            ended = Ended(session.msisdn, reply, tuple(session.secret_steps)).dump()
        hop_field, recent = _text_field(hop_id), recent or []
        kept = recent[:2] if recent[:1] != [hop_field] else recent[2:4]
        replays = _pack(json.dumps([hop_field, reply.wire, *kept], separators=(",", ":"), ensure_ascii=False))
        keys = [self._key(session.id, "lock"), self._key(session.id, "s"), self._key(session.id, "rp"),
                self._key(session.id, "end")]
        args = [token, self.ttl, replays, b"" if reply.end else blob, ended]
        for attempt in (1, 2):
            # The resume pointer first, then the session and the lock's release: one round trip (the script by
            # its digest: a pipeline given a Script object asks SCRIPT EXISTS first, a round trip of its own).
            async with self.redis.pipeline(transaction=False) as pipe:
                if not keep_resume:
                    if resumable and not reply.end:
                        pipe.set(self._resume_key(session.msisdn), blob, ex=self.resume_ttl)
                    else:
                        pipe.delete(self._resume_key(session.msisdn))
                pipe.evalsha(self._save.sha, len(keys), *keys, *args)
                try:
                    await pipe.execute()
                    return
                except NoScriptError:
                    if attempt == 2:
                        raise
                    await self.redis.script_load(_SAVE_AND_RELEASE)     # Redis restarted: scripts are gone

    async def close(self, sid: str, reply: "Callable[[Session], UssdReply]", msisdn: str = "") -> str:
        """The aggregator says the session ended (the user hung up, or it timed out): drop it and answer every
        later hop with `reply`. The resume point stays (a dropped call is offered again).

        `msisdn`: the number the notice names; a notice naming another number than the session's owner closes
        nothing (blank: the notice names none). Returns "closed", "gone" (no live session: ended already, or
        forgotten) or "foreign" (another number's notice)."""
        loaded = await self.acquire(sid, "")
        try:
            owner = loaded.session.msisdn if loaded.session else loaded.ended.msisdn if loaded.ended else None
            if msisdn and owner is not None and owner != msisdn:
                return "foreign"
            if loaded.session is None:
                return "gone"
            ended = Ended(loaded.session.msisdn, reply(loaded.session), tuple(loaded.session.secret_steps))
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(self._key(sid, "s"))
                pipe.set(self._key(sid, "end"), ended.dump(), ex=self.ttl)
                await pipe.execute()
            return "closed"
        finally:
            await self.release(sid, loaded.token)

    async def steps(self, sid: str) -> int | None:
        """How many inputs the live session consumed (None when there is none): an aggregator without a hop
        number of its own counts hops with it (ussd_app/aggregators/arkesel.py)."""
        session = await self.load_session(sid)
        return session.steps if session is not None else None

    async def load_session(self, sid: str) -> Session | None:
        """Read a session without locking (tests and operators' tools)."""
        return _session(await self.redis.get(self._key(sid, "s")))
