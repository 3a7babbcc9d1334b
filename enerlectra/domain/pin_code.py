"""PINs: 4 digits, not trivially guessable, stored as a salted scrypt hash (a slow KDF).

The hash string carries its own cost parameters, so raising the cost later keeps old PINs valid.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

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


async def hash_pin_async(pin: str, cost: int) -> str:
    """scrypt takes tens of milliseconds by design: keep it off the event loop."""
    return await asyncio.to_thread(hash_pin, pin, cost)


async def verify_pin_async(pin: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_pin, pin, stored)
