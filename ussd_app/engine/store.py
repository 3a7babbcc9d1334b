"""Sessions in Redis: one record per session (its state + JSON data, the END it ended with, the replay cache)
with a TTL, a per-session lock, resume pointers.

Keys carry the session id as a hash tag (`{sid}`) so one session's keys share a Redis Cluster slot.
A hop costs two round trips: one script checks the hop's rate limits (its address, session and hop:
enerlectra/ratelimit.py), takes the lock and reads the record -- and, for a session it does not know, the
caller's resume pointer (it lives under their number, not the session); one script writes the record, the
resume pointer when it changes and, on a hop that ENDs the session, its end record (enerlectra/ussd/ends.py),
and releases the lock. One script each, never a pipeline: a pipeline cost a hop more CPU than the script.

Bytes per live session (issue 18: at most 600): one key (each key costs Redis about 100 bytes of its own), the
session as compact JSON (types.Session.to_json) without its id (the key names it), a replay cache of the last
two hop ids -- the retry of the latest hop, and a late retry of the one before it arriving after the next was
answered (tests/test_aggregator_conformance.py, the probe) -- and zlib over the whole when that is shorter
(the screen and the replies repeat each other's words).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from redis.asyncio import Redis

from enerlectra import faults, redis_wire
from enerlectra.domain import ledger
from enerlectra.ratelimit import SLIDING_WINDOW_LUA, Allowed, Call
from enerlectra.redis_client import finishing
from enerlectra.ussd.ends import MAX_WAITING, SessionEnd, ends_key
from enerlectra.ussd.types import Session, UssdReply

log = logging.getLogger(__name__)

# Take the lock; when it is ours, read the session's record. A lock already holding our token is ours: the
# Redis client retries a call whose reply was lost, and that retry must not wait out its own lock.
# No record (a new session): the resume pointer too, when its key is given -- the round trip a dial needed.
# KEYS: lock, record[, resume pointer]. ARGV: token, lock ms.
_ACQUIRE_AND_LOAD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', KEYS[1]) == ARGV[1] then
  local record = redis.call('GET', KEYS[2])
  if not record and KEYS[3] then return {1, false, redis.call('GET', KEYS[3])} end
  return {1, record}
end
return {0}
"""
# The same, after the hop's rate limits (KEYS from 4 -- the resume pointer's is always given here --, ARGV
# from 3: enerlectra/ratelimit.py): a refused hop takes no lock and reads nothing ({2, the limiter's verdict}).
_LIMITED_ACQUIRE_AND_LOAD = SLIDING_WINDOW_LUA + """
local limits = {}
for i = 4, #KEYS do limits[#limits + 1] = KEYS[i] end
local verdict = sliding_window(limits, ARGV, 3)
if verdict[1] == 0 then return {2, verdict[2], verdict[3], verdict[4]} end
""" + _ACQUIRE_AND_LOAD
# Write the record, release the lock if still ours. KEYS: lock, record. ARGV: token, TTL s, the record, the
# record as the hop loaded it (its SHA-1; "none": there was none; "": not checked).
# Then, when given: KEYS resume pointer, ends list; ARGV "set"/"delete"/"" (the pointer), its value, its
# TTL s, the end record ("": none), how many end records the list keeps.
# A hop whose lock expired (it stalled past its renewals) writes nothing when another hop saved since it loaded:
# that newer record (an END among them) stands, or a resent newer hop would find no reply and run again. A
# record gone (Redis lost it, or its TTL) is written: the slow hop's session is all there is.
_SAVE_AND_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] and ARGV[4] ~= '' then
  local now = redis.call('GET', KEYS[2])
  if now and (ARGV[4] == 'none' or redis.sha1hex(now) ~= ARGV[4]) then return 0 end
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
if ARGV[5] == 'set' then redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[7])
elseif ARGV[5] == 'delete' then redis.call('DEL', KEYS[3]) end
if ARGV[8] and ARGV[8] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[8])
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[9]), -1)
end
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


class RateLimited(Exception):
    """The hop's rate limits (checked in the acquire's round trip) refused it: no lock taken."""

    def __init__(self, verdict: Allowed):
        super().__init__(verdict.kind)
        self.verdict = verdict


@dataclass
class Loaded:
    token: str                  # proves we hold the lock
    session: Session | None
    replay: UssdReply | None
    ended: Ended | None = None  # the session ended: every later hop gets this END
    recent: list[str] = field(default_factory=list)     # the replay cache: [field, reply] of the last two hops
    resume: Session | None = None   # no session yet: the caller's resume pointer (when `acquire` was given one)
    seen: str = ""              # the record as loaded (SHA-1 hex, "none"): `save` writes over no newer one


@dataclass(frozen=True)
class Ended:
    """What is kept of a session after its END: whose it was and the END it answers from now on."""

    msisdn: str
    reply: UssdReply
    secret_steps: tuple[int, ...] = ()      # which inputs were PINs (the end-of-session event masks them)

    def dump(self) -> list:
        return [self.msisdn, self.reply.wire, list(self.secret_steps)]

    @classmethod
    def load(cls, data: list | None) -> "Ended | None":
        if not data:
            return None
        return cls(data[0], _reply_from_str(data[1].encode()), tuple(data[2]))


def _pack(text: str) -> bytes:
    """zlib when it is shorter (a screen's words repeat across the session and its replies): Redis bytes."""
    raw = text.encode()
    # memLevel 4: zlib's default state (memLevel 8) costs about 2.5x as much a call to set up (27 us here, more
    # than the whole record's JSON); 1 to 4 cost the same (11 us), and 4 packs a record of a few hundred bytes
    # 30 bytes shorter than 1 did (a trade-menu session 632 -> under 600 bytes of Redis 7's MEMORY USAGE).
    # Still the zlib format with its 32 KB window's header ('x'): what _unpack and older records know.
    packer = zlib.compressobj(6, zlib.DEFLATED, 15, 4)
    packed = packer.compress(raw) + packer.flush()
    return packed if len(packed) < len(raw) else raw


def _unpack(raw: bytes) -> bytes:
    return zlib.decompress(raw) if raw[:1] == b"x" else raw      # JSON starts with { or [, zlib with x


def _session(raw: bytes | None) -> Session | None:
    return Session.from_json(json.loads(_unpack(raw))) if raw else None


def _record(raw: bytes | None) -> dict:
    """A session's record: s (the session without its id), e (its END), r (the replay cache)."""
    if not raw:
        return {}
    data = json.loads(_unpack(raw))
    return {"s": data} if "msisdn" in data else data        # a bare session, saved before issue 18


def _live(sid: str, record: dict) -> Session | None:
    data = record.get("s")
    return Session.from_json({**data, "i": sid} if "m" in data else data) if data else None


def _dump(record: dict) -> bytes:
    return _pack(json.dumps(record, separators=(",", ":"), ensure_ascii=False))


def _text_field(hop_id: str) -> str:
    """The replay cache's field for a hop id: a keyed digest, since Africa's Talking's (its text) carries the
    PINs typed. 64 bits: it tells apart the two hop ids a session keeps."""
    return ledger.keyed_digest("replay", hop_id)[:16]


def _reply_from_str(raw: bytes) -> UssdReply:
    text = raw.decode()
    return UssdReply(text=text[4:], end=text.startswith("END "))


class Renewal:
    """A lock's renewal: a timer, then (a slow hop) the task renewing it."""

    def __init__(self, delay: float, renew: "Callable[[], Awaitable[None]]"):
        self._task: asyncio.Task | None = None
        self._timer = asyncio.get_running_loop().call_later(delay, self._start, renew)

    def _start(self, renew: "Callable[[], Awaitable[None]]") -> None:
        self._task = asyncio.ensure_future(renew())

    def cancel(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, ttl: int, resume_ttl: int,
                 lock_timeout_ms: int, lock_wait_ms: int):
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self.resume_ttl = resume_ttl
        self.lock_timeout_ms = lock_timeout_ms
        self.lock_wait = lock_wait_ms / 1000
        # The hop's scripts on the client's lean wire (enerlectra/redis_wire.py): a quarter of a hop's CPU.
        self._acquire = redis_wire.script(redis, _ACQUIRE_AND_LOAD)
        self._limited_acquire = redis_wire.script(redis, _LIMITED_ACQUIRE_AND_LOAD)
        self._release = redis_wire.script(redis, _RELEASE)
        self._save = redis_wire.script(redis, _SAVE_AND_RELEASE)
        self._extend = redis_wire.script(redis, _EXTEND)

    def _key(self, sid: str, part: str) -> str:
        """lock, or s: the session's record."""
        return f"{self.prefix}ussd:{{{sid}}}:{part}"

    def _resume_key(self, msisdn: str) -> str:
        return f"{self.prefix}ussd:resume:{msisdn}"

    async def acquire(self, sid: str, hop_id: str, limits: Call | None = None, msisdn: str = "") -> Loaded:
        """Lock the session and load it. A duplicate hop (same hop id) waits here, then finds the replay.
        `limits` (Limiter.prepare): checked and recorded first, in the same round trip, once however long the
        lock is waited for; RateLimited when they refuse. `msisdn`: a session not found comes with that
        number's resume pointer (`Loaded.resume`), read in the same round trip."""
        token = secrets.token_hex(8)
        keys = [self._key(sid, "lock"), self._key(sid, "s")]
        if msisdn or limits is not None:
            keys.append(self._resume_key(msisdn))     # the limited script takes its limits' keys from the 4th
        deadline = time.monotonic() + self.lock_wait
        while True:
            if limits is not None:
                got = await self._limited_acquire(keys=keys + limits.keys,
                                                  args=[token, self.lock_timeout_ms, *limits.args])
                if got[0] == 2:
                    raise RateLimited(limits.verdict([0, *got[1:]]))
                limits = None
            else:
                got = await self._acquire(keys=keys, args=[token, self.lock_timeout_ms])
            if got[0] == 1:
                record = _record(got[1])
                recent, wanted = record.get("r", []), _text_field(hop_id)
                replay = next((_reply_from_str(recent[i + 1].encode()) for i in range(0, len(recent) - 1, 2)
                               if recent[i] == wanted), None)
                resume = _session(got[2]) if msisdn and len(got) > 2 else None
                seen = hashlib.sha1(got[1]).hexdigest() if got[1] else "none"
                return Loaded(token, _live(sid, record), replay, Ended.load(record.get("e")), recent, resume, seen)
            if time.monotonic() > deadline:
                raise LockTimeout(sid)
            await asyncio.sleep(0.005)

    async def release(self, sid: str, token: str) -> None:
        with finishing():                   # a lock we hold: released even in the breaker's second
            await self._release(keys=[self._key(sid, "lock")], args=[token])

    async def keep_alive(self, sid: str, token: str, *, wait_first: bool = True) -> None:
        """Renew the lock every third of its timeout until cancelled: a hop waiting on a slow provider keeps
        its session, so a retransmission waits for the stored reply instead of running the step again."""
        every = self.lock_timeout_ms / 3000
        keys, args = [self._key(sid, "lock")], [token, self.lock_timeout_ms]
        with finishing():                   # a hop under way keeps its lock through the breaker's second
            await self._keep_alive(keys, args, every, wait_first)

    async def _keep_alive(self, keys: list[str], args: list, every: float, wait_first: bool) -> None:
        if not wait_first and not await self._extend(keys=keys, args=args):
            return
        while True:
            await asyncio.sleep(every)
            if not await self._extend(keys=keys, args=args):
                return

    def keep_alive_soon(self, sid: str, token: str) -> "Renewal":
        """`keep_alive`, started by a timer a third of the lock's timeout from now: most hops are over long
        before, and a timer cancelled costs less than a task a hop. `.cancel()` when the hop ends."""
        return Renewal(self.lock_timeout_ms / 3000, lambda: self.keep_alive(sid, token, wait_first=False))

    async def secret_steps(self, sid: str) -> set[int] | None:
        """Which inputs of the session were PINs (positions in the `*`-joined text), while we remember the
        session (ended or not); None once it is forgotten."""
        record = _record(await self.redis.get(self._key(sid, "s")))
        known = Ended.load(record.get("e")) or _live(sid, record)
        return set(known.secret_steps) if known is not None else None

    async def resume_point(self, msisdn: str) -> Session | None:
        return _session(await self.redis.get(self._resume_key(msisdn)))

    async def save(self, session: Session, hop_id: str, reply: UssdReply, token: str, *, resumable: bool,
                   keep_resume: bool = False, recent: list[str] | None = None, end: SessionEnd | None = None,
                   seen: str = "") -> bool:
        """Store the session (or drop it on END), the reply for retransmissions, the resume pointer;
        then release the lock, all in one round trip.

        `resumable`: this screen is worth offering again if the call drops.
        `keep_resume`: leave the previous pointer alone (the resume offer itself, an internal error).
        `recent`: the replay cache as loaded (`Loaded.recent`): this hop's reply goes first, the one before stays.
        `end`: this hop ENDed the session: its record goes onto the ends list in the same script. Only a hop
        that ran gets here: a retransmitted END pushes nothing.
        `seen`: `Loaded.seen`; when the lock is no longer ours and another hop saved since, nothing is written
        (False): the newer record stands.
        """
        # The resume pointer: set on a screen worth resuming; dropped otherwise, when this session knows of one
        # (read at the dial, or set since): most hops then write the record alone, one script, no pipeline.
        pointer = None
        if not keep_resume:
            if resumable and not reply.end:
                pointer, session.resume_kept = "set", True
            elif session.resume_kept:
                pointer, session.resume_kept = "delete", False
        stored = session.to_json()
        hop_field, recent = _text_field(hop_id), recent or []
        kept = recent[:2] if recent[:1] != [hop_field] else recent[2:4]
        record: dict = {"r": [hop_field, reply.wire, *kept]}
        if not reply.end:
            record["s"] = {k: v for k, v in stored.items() if k != "i"}
        elif not faults.on("end_not_remembered"):
            record["e"] = Ended(session.msisdn, reply, tuple(session.secret_steps)).dump()
        keys = [self._key(session.id, "lock"), self._key(session.id, "s")]
        args = [token, self.ttl, _dump(record), seen]
        if pointer is not None or end is not None:
            # The pointer and the end record in the same script (by its digest; redis-py loads it again after
            # a Redis restart, before it ran: an end record is never pushed twice).
            value = _pack(json.dumps(stored, separators=(",", ":"), ensure_ascii=False)) if pointer == "set" else ""
            keys += [self._resume_key(session.msisdn), ends_key(self.prefix)]
            args += [pointer or "", value, self.resume_ttl, end.dump() if end is not None else "", MAX_WAITING]
        with finishing():                   # the hop ran (money may have moved): sent, breaker or not
            if await self._save(keys=keys, args=args):
                return True
        # (Also a save the client retried after its reply was lost: it ran, so its lock is gone and the record
        # is its own -- written once, its end record pushed once.)
        log.warning("session %s: lock lost and the record changed since loaded: this hop's save dropped",
                    session.id)
        return False

    async def close(self, sid: str, reply: "Callable[[Session], UssdReply]", msisdn: str = "",
                    end: "Callable[[Session], SessionEnd] | None" = None) -> str:
        """The aggregator says the session ended (the user hung up, or it timed out): drop it and answer every
        later hop with `reply`. The resume point stays (a dropped call is offered again).

        `end`: the session's end record, pushed onto the ends list in the same round trip as the close (only
        when a live session closes: a repeated notice, or one after our END, pushes nothing).

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
                pipe.set(self._key(sid, "s"), _dump({"e": ended.dump(), "r": loaded.recent}), ex=self.ttl)
                if end is not None:
                    pipe.rpush(ends_key(self.prefix), end(loaded.session).dump())
                    pipe.ltrim(ends_key(self.prefix), -MAX_WAITING, -1)
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
        return _live(sid, _record(await self.redis.get(self._key(sid, "s"))))
