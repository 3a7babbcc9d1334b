"""rq's INFO chatter (every job's start and end, the scheduler every 30 s) stays out of the worker's log at
LOG_LEVEL=INFO; a failed job is still logged."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from enerlectra.jobs import EXPIRE_JOB, MONEY, SMS, make_queue


async def test_a_burst_worker_logs_the_failure_and_not_rqs_info_lines(settings):
    money = make_queue(settings.redis_url, settings.queue_name, MONEY)
    ok = money.enqueue(EXPIRE_JOB)
    sms = make_queue(settings.redis_url, settings.queue_name, SMS)
    broken = sms.enqueue("workers.sms.no_such_job")
    money.connection.close()
    sms.connection.close()
    env = {**os.environ, **settings.worker_env(), "LOG_LEVEL": "INFO"}
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ussd_app.cli", "worker", "--burst"],
                                   env=env, capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert broken.id in log and "no_such_job" in log, log          # the failure is there
    assert ok.id not in log, log                                   # the successful job is not
    assert "Job OK" not in log and "Listening on" not in log and "Cleaning registries" not in log, log
