"""Send one claimed batch: its gateway requests side by side on a few threads, each answer journaled first.

The worker claims rows (enerlectra/domain/outbox.py `claim_due`), groups them into requests
(`requests_for`: one per text, up to 100 numbers) and hands them here. Each request, in its own thread:
the gateway call, then at once the answer of each of its messages to Redis (sms/answers.py), before the
rows say anything. What comes back is what to record: the answer by outbox id, and the rows never tried.

No request starts after `start_by` (a monotonic time): the claim's lease must outlast every request that
began under it, or the sweeper could hand a row to another worker while ours is still sending it. Rows
not tried by then go back to the queue untried.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Protocol

from enerlectra import faults
from sms.gateways import RETRY, Delivery, Gateway, GatewayError

log = logging.getLogger(__name__)
SENDERS = 8          # requests in flight per worker: enough to hide the gateway's latency (bench/sms.py)


class Row(Protocol):
    """What sending needs of an outbox row (an SmsOutbox)."""

    id: int
    msisdn: str
    body: str


@dataclass
class Outcome:
    answers: dict[int, Delivery] = field(default_factory=dict)   # outbox id -> what the gateway said
    untried: list[int] = field(default_factory=list)             # outbox ids no request was started for
    gateway: str = ""


Journal = Callable[[str, dict[int, Delivery]], object]


def send_batch(gateway: Gateway, requests: list[list[Row]], journal: Journal, start_by: float,
               pool: ThreadPoolExecutor) -> Outcome:
    """Send `requests` (lists of rows sharing one text) through `gateway` on `pool`. `journal(gateway name,
    {outbox id: delivery})` is called in the sending thread as soon as an accepted request's answer is in.
    A fault point that fires (a simulated death) is raised here, after the requests in flight finish."""
    outcome = Outcome(gateway=gateway.name)
    stop = threading.Event()          # set by a sender that died: no other request starts after it
    futures = {pool.submit(_one, gateway, rows, journal, start_by, stop): rows for rows in requests}
    wait(futures, return_when=FIRST_EXCEPTION)
    died = next((f for f in futures if f.done() and not f.cancelled() and f.exception()), None)
    if died is not None:            # start nothing more; what is in flight finishes (its answer journaled)
        for future in futures:
            future.cancel()
        wait(futures)
        raise died.exception()
    for future, rows in futures.items():
        answers = future.result()
        if answers is None:
            outcome.untried.extend(r.id for r in rows)
        else:
            outcome.answers.update(answers)
    return outcome


def _one(gateway: Gateway, rows: list[Row], journal: Journal, start_by: float,
         stop: threading.Event) -> dict[int, Delivery] | None:
    if stop.is_set() or time.monotonic() > start_by:
        return None
    try:
        deliveries = gateway.send(rows[0].body, [r.msisdn for r in rows])
    except GatewayError as exc:
        return {r.id: Delivery(r.msisdn, RETRY, reason=str(exc)) for r in rows}
    except Exception as exc:          # a bug or a surprise in one request must not sink its batch's others
        # the type only: an exception's text may carry a number or a text (logs stay redacted)
        log.error("SMS request failed unexpectedly (%s); its %d message(s) will be tried again",
                  type(exc).__name__, len(rows))
        return {r.id: Delivery(r.msisdn, RETRY, reason=f"unexpected: {type(exc).__name__}") for r in rows}
    except BaseException:
        stop.set()
        raise
    by_number = {d.msisdn: d for d in deliveries}
    answers = {r.id: by_number[r.msisdn] for r in rows}
    try:
        journal(gateway.name, answers)           # accepted: written down before anything else
        faults.point("sms.send.after_gateway")
    except BaseException:
        stop.set()
        raise
    return answers
