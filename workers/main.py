"""`enerlectra worker`: an rq worker on the JSON serializer, plus a ticker that enqueues the outbox sweep."""
from __future__ import annotations

import logging
import threading
import time
import uuid

import redis
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from enerlectra.embedded_redis import resolve_redis_url
from enerlectra.jobs import (ANCHOR_JOB, ANSWER_SWEEP_JOB, EXPIRE_JOB, FOLD_ENDS_JOB, JOB_KIND,
                             LOST_RENTALS_JOB, PROPOSALS_JOB, RECONCILE_JOB, REMIND_RENTALS_JOB, SWEEP_JOB,
                             make_queues)
from enerlectra.settings import Settings
from workers import advisor as _advisor_jobs  # noqa: F401  imported here so a forked work horse need not
from workers import analytics as _analytics_jobs  # noqa: F401
from workers import clusters as _cluster_jobs  # noqa: F401
from workers import ledger as _ledger_jobs  # noqa: F401
from workers import market as _market_jobs  # noqa: F401
from workers import payments as _payment_jobs  # noqa: F401
from workers import rentals as _rental_jobs  # noqa: F401
from workers import runtime
from workers import sms as _sms_jobs  # noqa: F401

log = logging.getLogger(__name__)


def _ticker(queues: dict[str, Queue], every: int, stop: threading.Event) -> None:
    """The periodic jobs (outbox and advisor sweeps, payment reconciliation, market expiry, proposals at their
    deadline, the ledger's head written down, the USSD session ends folded into SQL, rental reminders and the
    lost sweep), one each per tick, each on
    its own kind's queue."""
    while not stop.wait(every):
        tick = int(time.time() // every)
        for job, name in ((RECONCILE_JOB, "reconcile"), (PROPOSALS_JOB, "proposals"), (EXPIRE_JOB, "expire"),
                          (ANCHOR_JOB, "anchor"), (SWEEP_JOB, "sweep"), (ANSWER_SWEEP_JOB, "ask-sweep"),
                          (FOLD_ENDS_JOB, "fold-ends"), (REMIND_RENTALS_JOB, "rental-remind"),
                          (LOST_RENTALS_JOB, "rental-lost")):
            queue = queues[JOB_KIND[job]]
            try:
                queue.enqueue(job, job_id=f"{queue.name}-{name}-{tick}", unique=True, result_ttl=600,
                              failure_ttl=86400)
            except DuplicateJobError:
                pass
            except redis.RedisError:
                log.exception("could not enqueue %s", name)


class ShortListen:
    """rq reads a worker's command channel (shutdown, kill a horse) with a 60 s timeout, and redis-py 8 joins
    that reader when it stops it: a worker's teardown waited up to 60 s. Reading 1 s at a time bounds that."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=1, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)


class InProcessWorker(ShortListen, SimpleWorker):
    pass


class ForkingWorker(ShortListen, Worker):
    pass


class ThreadedWorker(SimpleWorker):
    """A SimpleWorker that can run outside the main thread (the simulator and tests drive it that way):
    no signal handlers, job timeouts by timer instead of SIGALRM, and no command channel (a burst ends by
    itself; see ShortListen for what listening cost)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def _worker_name(base: str) -> str:
    """Named after its queues, so everything a worker leaves in Redis can be found by queue name."""
    return f"{base}-{uuid.uuid4().hex[:12]}"


def quiet_rq(level: str) -> str:
    """rq logs every job start and end, and its scheduler a line every 30 s, at INFO: an operator's log
    drowns in them. Below DEBUG its loggers get WARNING at least (a failed job is logged at ERROR, so it stays
    visible); LOG_LEVEL=DEBUG keeps everything. Returns the level to hand to `Worker.work`."""
    wanted = logging.getLevelName(level.upper())
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    chosen = wanted if wanted <= logging.DEBUG else max(wanted, logging.WARNING)
    for name in ("rq.worker", "rq.scheduler", "rq.queue", "rq.job"):
        logging.getLogger(name).setLevel(chosen)
    return logging.getLevelName(chosen)


def run_burst(settings: Settings) -> None:
    """Run everything queued now, in this thread, then return (money first, as a worker does)."""
    runtime.configure(settings)
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        queues = list(make_queues(connection, settings.queue_name).values())
        ThreadedWorker(queues, connection=connection, serializer=JSONSerializer,
                       name=_worker_name(settings.queue_name)).work(
            burst=True, with_scheduler=False, logging_level="WARNING")
    finally:
        connection.close()


def run_worker(settings: Settings, *, burst: bool = False, fork: bool = False) -> int:
    """Jobs run in this process by default: they are short and I/O-bound, and a fork per job costs
    more than the job (bench/sms.py). `fork=True` gives each job its own work horse."""
    url, embedded = resolve_redis_url(settings.redis_url, settings.home)
    settings = settings.with_(redis_url=url)
    runtime.configure(settings, fork=fork)
    connection = redis.Redis.from_url(url)
    queues = make_queues(connection, settings.queue_name)       # money, sms, advisor: rq takes them in order
    worker_class = ForkingWorker if fork else InProcessWorker
    worker = worker_class(list(queues.values()), connection=connection, serializer=JSONSerializer,
                          name=_worker_name(settings.queue_name))
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_ticker, args=(queues, settings.sms_sweep_seconds, stop), daemon=True).start()
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level=quiet_rq(settings.log_level))
    finally:
        stop.set()
        if embedded is not None:
            embedded.stop()
    return 0
