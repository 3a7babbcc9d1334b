"""The PIN KDF's threads run at a lower CPU priority than the event loop (enerlectra/domain/pin_code.py,
issue 18): under load a menu hop's few hundred microseconds do not queue behind another user's scrypt."""
from __future__ import annotations

import os
import sys
import threading

import pytest

from enerlectra.domain import pin_code

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities: Linux")


@pytest.mark.parametrize("kdf", ["hash", "verify"])
async def test_the_kdf_runs_below_the_loop(kdf):
    seen: list[tuple[int, int]] = []

    def observe(moment: str) -> None:
        if moment == "start":
            seen.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))

    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pin_code.KDF_OBSERVERS.append(observe)
    try:
        stored = await pin_code.hash_pin_async("4826", 16)
        if kdf == "verify":
            seen.clear()
            assert await pin_code.verify_password_async("4826", stored)
    finally:
        pin_code.KDF_OBSERVERS.remove(observe)
    [(tid, nice)] = seen
    assert tid != threading.get_native_id()
    assert nice == min(19, loop_nice + pin_code.KDF_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice     # the loop keeps its own
