"""Real worker processes: kill one between the outbox commit and the send, restart, see one message."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select

from enerlectra.db.models import SmsOutbox
from tests.test_sms_send import TO, queue_sms
from ussd_app import appkeys


def start_worker(settings, fork: bool, fault: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ENERLECTRA_FAULT"} | settings.worker_env()
    if fault:
        env["ENERLECTRA_FAULT"] = fault
    args = ["worker", "--fork"] if fork else ["worker"]
    return subprocess.Popen([sys.executable, "-m", "ussd_app.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> None:
    """The whole process group: the worker, a work horse, rq's scheduler process."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def wait_for(predicate, seconds: float) -> bool:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("fork", [False, True], ids=["jobs in process", "fork per job"])
async def test_worker_killed_after_claim_then_restarted_sends_exactly_once(at_client, at_settings, fake_at, fork):
    fake, _url = fake_at
    settings = at_settings.with_(sms_lease_seconds=1, sms_sweep_seconds=1)
    [outbox_id] = await queue_sms(at_client, TO, body="Your cluster vote passed")

    async def row() -> SmsOutbox:
        async with at_client.app[appkeys.DB]() as s:
            return await s.scalar(select(SmsOutbox).where(SmsOutbox.id == outbox_id))

    doomed = start_worker(settings, fork, fault="after-claim")

    async def died() -> bool:
        return doomed.poll() is not None

    try:
        assert await wait_for(died, 30), "the worker did not reach the fault"
    finally:
        stop(doomed)
    assert doomed.returncode == -9
    claimed = await row()
    assert claimed.status == "sending" and fake.messages == [], "killed after the claim, before the send"

    healthy = start_worker(settings, fork)
    try:
        async def delivered_once() -> bool:
            return len(fake.inbox(TO)) >= 1
        assert await wait_for(delivered_once, 60), healthy.stderr.read1().decode() if healthy.poll() else "timeout"
        await asyncio.sleep(2.5)          # two more sweep ticks: nothing is sent again
    finally:
        stop(healthy)
    assert [m.text for m in fake.inbox(TO)] == ["Your cluster vote passed"]
    final = await row()
    assert final.status in ("sent", "delivered") and final.attempts == 2 and final.dispatches == 2
