"""PINs: 4 digits, not trivially guessable, stored as a salted scrypt hash sealed with a key.

A user's PIN is stored as HMAC-SHA256(key, scrypt(pin, salt)) (`scrypt-k1$N$r$p$salt$mac`), the key derived
from the installation's ledger key, which is kept outside the database (ledger_key). A PIN has 10,000 values:
no KDF cost a USSD hop can pay protects it from a copy of the database (at N=2^14, all 10,000 take ten
minutes of one core), so what protects it is a key the copy does not hold, as PINs are kept under keys in
payment systems; scrypt stays, at a cost a hop can afford (`PIN_KDF_COST`), for a copy taken with the key.
A user's PIN verifies only sealed: whoever can write the users table (an edited backup restored, an injection)
could otherwise set a plain `scrypt$...` hash of a PIN they chose, without the key. PINs stored plain before
sealing were sealed by migration 0022 without their PINs (`seal_plain`: the MAC over the scrypt output already
stored is a sealed value at that cost). One sealed at another cost than `PIN_KDF_COST` is hashed again, once,
when typed right (pins.check). Console passwords are plain scrypt at their own cost (`verify_password`).
The hash string carries its own cost parameters, so changing the cost later keeps old PINs valid.

The KDF runs in a few threads of its own, fewer than the cores: scrypt takes tens of milliseconds of CPU by
design, and six of them at once in asyncio's default pool (cores + 4 threads) took the CPU from the event loop,
so every hop of the process waited behind them (the mixed load's seconds-long hops, issue 18). The threads
also run at a lower CPU priority than the loops (`KDF_NICE`): with several processes, their KDF threads
together still outnumber the cores, and a menu hop's few hundred microseconds must not queue behind another
user's scrypt; the KDF gets every cycle the loops leave. Callers never hold a write transaction while it
runs (enerlectra/domain/pins.py; tests/test_kdf_outside_transactions.py).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

PIN_LENGTH = 4
_R, _P, _DKLEN = 8, 1, 32
_WEAK = {"1234", "4321", "0123", "9876", "1212", "2580"}


def is_valid_pin(pin: str) -> bool:
    """Four digits, not all the same, not an obvious sequence."""
    return (
        len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()
        and len(set(pin)) > 1 and pin not in _WEAK
    )


PLAIN, KEYED = "scrypt", "scrypt-k1"
_PIN_KEY_PURPOSE = b"enerlectra/pin-hash/v1"


def pin_key() -> bytes:
    """The key user PINs are sealed with: this process's ledger key, derived for this purpose only (raises
    ledger.NoKey in a process that has none: a PIN is never stored weaker for want of it)."""
    from enerlectra.domain import ledger  # not at import: menus import this module for lint samples
    return hmac.new(ledger.current_key(), _PIN_KEY_PURPOSE, hashlib.sha256).digest()


def hash_pin(pin: str, cost: int = 2**11, key: bytes | None = None) -> str:
    """A new salted hash of `pin`: sealed with `key` (user PINs: `pin_key()`), plain scrypt without one."""
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(pin.encode(), salt=salt, n=cost, r=_R, p=_P, dklen=_DKLEN, maxmem=2**26)
    scheme, value = (PLAIN, derived) if key is None else (KEYED, _seal(key, derived))
    return "{}${}${}${}${}${}".format(
        scheme, cost, _R, _P, base64.b64encode(salt).decode(), base64.b64encode(value).decode())


def hash_user_pin(pin: str, cost: int = 2**11) -> str:
    """A user's PIN as stored: sealed with this process's pin_key()."""
    return hash_pin(pin, cost, key=pin_key())


def _seal(key: bytes, derived: bytes) -> bytes:
    return hmac.new(key, derived, hashlib.sha256).digest()


def verify_pin(pin: str, stored: str) -> bool:
    """A user's PIN against its sealed hash (raises ledger.NoKey without the key). A plain hash is refused."""
    return _verify(pin, stored, KEYED)


def verify_password(password: str, stored: str) -> bool:
    """An operator's password against its plain scrypt hash."""
    return _verify(password, stored, PLAIN)


def _verify(secret: str, stored: str, scheme: str) -> bool:
    parts = _parts(stored)
    if parts is None or parts[0] != scheme:
        return False
    _, n, salt, expected = parts
    try:
        derived = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=2**26)
    except (ValueError, TypeError):
        return False
    got = _seal(pin_key(), derived) if scheme == KEYED else derived
    return hmac.compare_digest(got, expected)


def _parts(stored: str) -> tuple[str, int, bytes, bytes] | None:
    """(scheme, N, salt, value) of a hash as hash_pin writes it; None for anything else."""
    try:
        scheme, n, r, p, salt, value = stored.split("$")
        if scheme not in (PLAIN, KEYED) or (int(r), int(p)) != (_R, _P):
            return None        # only what hash_pin writes: one set by hand with a huge p held a thread
        expected = base64.b64decode(value, validate=True)
        if len(expected) != _DKLEN:
            return None              # a short key (one byte) would match a wrong PIN 1 time in 256
        return scheme, int(n), base64.b64decode(salt, validate=True), expected
    except (ValueError, TypeError, AttributeError):
        return None


def seal_plain(stored: str, key: bytes) -> str | None:
    """A plain hash sealed with `key`, without its PIN: the MAC of the scrypt output it holds is the sealed
    value at the same cost and salt (migration 0022). None for what is not a plain hash hash_pin writes."""
    parts = _parts(stored)
    if parts is None or parts[0] != PLAIN:
        return None
    _, n, salt, derived = parts
    return "$".join([KEYED, str(n), str(_R), str(_P), base64.b64encode(salt).decode(),
                     base64.b64encode(_seal(key, derived)).decode()])


def needs_sealing(stored: str, cost: int) -> bool:
    """A user PIN sealed at another cost (or a first entry kept plain): hashed again when typed right."""
    return not stored.startswith(f"{KEYED}${cost}${_R}${_P}$")


# Threads for the KDF: one core stays the event loop's (on one core, one thread: the loop still runs between).
KDF_THREADS = max(1, (os.cpu_count() or 2) - 1)
KDF_NICE = 10          # added to a KDF thread's nice value (Linux: per thread); the loop keeps its own
# Observers of the KDF (tests: is a transaction open while it runs?), called in its thread with "start" / "end".
KDF_OBSERVERS: list[Callable[[str], None]] = []
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _kdf_pool() -> ThreadPoolExecutor:
    """This process's KDF threads (made again in a forked child: threads do not survive a fork)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(KDF_THREADS, thread_name_prefix="pin-kdf",
                                                 initializer=_behind_the_loop))
    return _pool[1]


def _behind_the_loop() -> None:
    """Lower this KDF thread's CPU priority (where the system has per-thread priorities: Linux)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + KDF_NICE)
    except (AttributeError, OSError):       # no setpriority, or not allowed: the KDF runs as before
        pass


def _observed(kdf: Callable, *args):
    for observe in KDF_OBSERVERS:
        observe("start")
    try:
        return kdf(*args)
    finally:
        for observe in KDF_OBSERVERS:
            observe("end")


async def hash_pin_async(pin: str, cost: int, key: bytes | None = None) -> str:
    """scrypt takes milliseconds of CPU by design: keep it off the event loop (in the KDF threads)."""
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, hash_pin, pin, cost, key)


async def verify_pin_async(pin: str, stored: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, verify_pin, pin, stored)


async def verify_password_async(password: str, stored: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, verify_password, password,
                                                            stored)
