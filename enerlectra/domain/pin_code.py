"""PINs: 4 digits, not trivially guessable, stored as a salted scrypt hash sealed with a key.

A user's PIN is stored as HMAC(key, "user <id>" + HMAC(key, scrypt(pin, salt))) (`scrypt-k2$N$r$p$salt$mac`),
the key derived from the installation's ledger key, kept outside the database (ledger_key). A PIN has 10,000
values: no KDF cost a USSD hop can pay protects it from a copy of the database (at N=2^14, all 10,000 take
ten minutes of one core), so what protects it is a key the copy does not hold, as PINs are kept under keys in
payment systems; scrypt stays, at a cost a hop can afford (`PIN_KDF_COST`), for a copy taken with the key.
The user's id is in the MAC so that whoever can write the users table (an edited backup restored, an
injection) cannot give a victim a PIN they know without the key: neither a plain `scrypt$` hash nor the value
copied from their own account's row verifies (verify_pin). A PIN's first entry, before the user exists, is
kept sealed but unbound in the USSD session (`scrypt-k1`); users.register, change_pin and a reset's
completion bind it (bind_to_user, no PIN needed). Migration 0022 bound the PINs stored plain before, the same
way. One stored at another cost than `PIN_KDF_COST` is hashed again, once, when typed right (pins.check).
Console passwords are plain scrypt at their own cost (`verify_password`).
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


PLAIN, KEYED, BOUND = "scrypt", "scrypt-k1", "scrypt-k2"
_PIN_KEY_PURPOSE = b"enerlectra/pin-hash/v1"


def pin_key() -> bytes:
    """The key user PINs are sealed with: this process's ledger key, derived for this purpose only (raises
    ledger.NoKey in a process that has none: a PIN is never stored weaker for want of it)."""
    from enerlectra.domain import ledger  # not at import: menus import this module for lint samples
    return hmac.new(ledger.current_key(), _PIN_KEY_PURPOSE, hashlib.sha256).digest()


def hash_pin(pin: str, cost: int = 2**11, key: bytes | None = None) -> str:
    """A new salted hash of `pin`: sealed with `key` (a PIN's first entry: `pin_key()`; bind_to_user makes it
    a user's), plain scrypt without one (operator passwords)."""
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(pin.encode(), salt=salt, n=cost, r=_R, p=_P, dklen=_DKLEN, maxmem=2**26)
    if key is None:
        return _format(PLAIN, cost, salt, derived)
    return _format(KEYED, cost, salt, _seal(key, derived))


def hash_user_pin(pin: str, cost: int = 2**11, user_id: int | None = None) -> str:
    """A PIN sealed with this process's pin_key(): bound to `user_id` (as users.pin_hash holds it), or a first
    entry (users.register, change_pin and a reset's completion bind it)."""
    sealed = hash_pin(pin, cost, key=pin_key())
    return sealed if user_id is None else bind_to_user(sealed, user_id)


def _format(scheme: str, cost: int, salt: bytes, value: bytes) -> str:
    return "$".join([scheme, str(cost), str(_R), str(_P), base64.b64encode(salt).decode(),
                     base64.b64encode(value).decode()])


def _seal(key: bytes, derived: bytes) -> bytes:
    return hmac.new(key, derived, hashlib.sha256).digest()


def _bound(key: bytes, user_id: int, sealed: bytes) -> bytes:
    """The sealed value tied to one user: copied onto another user's row it verifies nothing."""
    return hmac.new(key, b"user %d\n" % user_id + sealed, hashlib.sha256).digest()


def bind_to_user(stored: str, user_id: int) -> str | None:
    """A first entry (sealed) or a plain hash, bound to `user_id` without its PIN: the MAC over the value it
    holds (scrypt's output, sealed first if plain) is the bound value at the same cost and salt (migration
    0022 binds what was stored before). None for anything else, a value already bound included."""
    parts = _parts(stored)
    if parts is None or parts[0] not in (PLAIN, KEYED):
        return None
    scheme, n, salt, value = parts
    key = pin_key()
    sealed = _seal(key, value) if scheme == PLAIN else value
    return _format(BOUND, n, salt, _bound(key, user_id, sealed))


def stored_for(entry: str, user_id: int) -> str:
    """What users.pin_hash holds for a PIN's first entry (sealed, KEYED): bound to the user. Anything else is
    kept as given (a placeholder that verifies nothing); a plain hash too: only migration 0022 binds those."""
    return bind_to_user(entry, user_id) if scheme_of(entry) == KEYED else entry


def verify_pin(pin: str, stored: str, user_id: int) -> bool:
    """A user's PIN against users.pin_hash, bound to that user (raises ledger.NoKey without the key). Anything
    else is refused: a plain hash or another user's, written into the table without the key."""
    derived = _derive(pin, stored, BOUND)
    if derived is None:
        return False
    key = pin_key()
    return hmac.compare_digest(_bound(key, user_id, _seal(key, derived[0])), derived[1])


def verify_entry(pin: str, stored: str) -> bool:
    """A PIN's second entry against the first, kept sealed in the USSD session (no user yet)."""
    derived = _derive(pin, stored, KEYED)
    return derived is not None and hmac.compare_digest(_seal(pin_key(), derived[0]), derived[1])


def verify_password(password: str, stored: str) -> bool:
    """An operator's password against its plain scrypt hash."""
    derived = _derive(password, stored, PLAIN)
    return derived is not None and hmac.compare_digest(derived[0], derived[1])


def _derive(secret: str, stored: str, scheme: str) -> tuple[bytes, bytes] | None:
    """(scrypt of `secret` at the stored cost and salt, the stored value) when `stored` is of `scheme`."""
    parts = _parts(stored)
    if parts is None or parts[0] != scheme:
        return None
    _, n, salt, expected = parts
    try:
        derived = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=2**26)
    except (ValueError, TypeError):
        return None
    return derived, expected


def _parts(stored: str) -> tuple[str, int, bytes, bytes] | None:
    """(scheme, N, salt, value) of a hash as hash_pin or bind_to_user writes it; None for anything else."""
    try:
        scheme, n, r, p, salt, value = stored.split("$")
        if scheme not in (PLAIN, KEYED, BOUND) or (int(r), int(p)) != (_R, _P):
            return None        # only what hash_pin writes: one set by hand with a huge p held a thread
        expected = base64.b64decode(value, validate=True)
        if len(expected) != _DKLEN:
            return None              # a short key (one byte) would match a wrong PIN 1 time in 256
        return scheme, int(n), base64.b64decode(salt, validate=True), expected
    except (ValueError, TypeError, AttributeError):
        return None


def scheme_of(stored: str | None) -> str | None:
    """PLAIN, KEYED or BOUND for a value hash_pin or bind_to_user writes; None for anything else."""
    parts = _parts(stored) if stored else None
    return parts[0] if parts is not None else None


def needs_sealing(stored: str, cost: int, scheme: str = BOUND) -> bool:
    """A PIN stored at another cost than `cost` (or a first entry kept plain): hashed again if typed right."""
    return not stored.startswith(f"{scheme}${cost}${_R}${_P}$")


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


async def verify_pin_async(pin: str, stored: str, user_id: int) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, verify_pin, pin, stored,
                                                            user_id)


async def verify_entry_async(pin: str, stored: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, verify_entry, pin, stored)


async def verify_password_async(password: str, stored: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, verify_password, password,
                                                            stored)
