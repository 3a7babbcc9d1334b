"""PINs: 4 digits, not trivially guessable, stored as a salted scrypt hash (a slow KDF).

The hash string carries its own cost parameters, so raising the cost later keeps old PINs valid.

The KDF runs in a few threads of its own, fewer than the cores: scrypt takes tens of milliseconds of CPU by
design, and six of them at once in asyncio's default pool (cores + 4 threads) took the CPU from the event loop,
so every hop of the process waited behind them (the mixed load's seconds-long hops, issue 18). The threads
also run at a lower CPU priority than the loops (`KDF_NICE`): with several processes, their KDF threads
together still outnumber the cores, and a menu hop's few hundred microseconds must not queue behind another
user's scrypt; the KDF gets every cycle the loops leave. Callers never hold a write transaction while it runs (enerlectra/domain/pins.py; tests/test_kdf_outside_transactions.py).
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


def hash_pin(pin: str, cost: int = 2**14) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(pin.encode(), salt=salt, n=cost, r=_R, p=_P, dklen=_DKLEN, maxmem=2**26)
    return "scrypt${}${}${}${}${}".format(
        cost, _R, _P, base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=2**26)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


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


async def hash_pin_async(pin: str, cost: int) -> str:
    """scrypt takes tens of milliseconds by design: keep it off the event loop (in the KDF threads)."""
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, hash_pin, pin, cost)


async def verify_pin_async(pin: str, stored: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool(), _observed, verify_pin, pin, stored)
