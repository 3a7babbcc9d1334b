"""`enerlectra serve --workers N`: the web app on every core, as a small pre-fork supervisor.

The parent does the once-only work first (migrations, the embedded Redis, the rq worker, planning the local
sandboxes and the fake AT), imports the app, then forks:
- one process serving the sandboxes (their prompts and inboxes live in its memory, so there is one of each);
- N web processes, each running the aiohttp app on its own uvloop and binding the port with SO_REUSEPORT,
  so the kernel spreads incoming connections across them (no accept races, no proxy in front).
The parent runs no event loop: it only watches its children. A web process that dies is forked again (one
that dies within its first second stops everything: a crash loop helps nobody); SIGINT / SIGTERM stop every
child (SIGTERM, then SIGKILL after STOP_SECONDS) and the parent exits 0.

Metrics: prometheus-client's multiprocess mode (ussd_app/metrics.py), so /metrics on any process counts all.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("enerlectra")

STOP_SECONDS = 20          # what a child gets to finish its hops after SIGTERM before SIGKILL
CRASH_LOOP_SECONDS = 1.0   # a web process dying younger than this is not forked again
# A child that keeps dying a little older than that is a crash loop too: more restarts than this within
# RESTART_WINDOW_SECONDS stop everything (exit 1) instead of forking it again forever.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0


def pause_gc() -> None:
    """Start-up creates about a million objects that live as long as the process (modules, ORM mappers,
    catalogs): the cyclic collector walked them all again and again while they were made (one full pass took
    ~70 ms mid-import). It is off until resume_gc."""
    gc.disable()


def resume_gc() -> None:
    """What start-up made is frozen (never scanned again) and the collector is back on. Before a fork, so the
    children neither rescan those objects nor touch their pages (Python's gc.freeze docs: disable early in the
    parent, freeze just before fork)."""
    gc.freeze()
    gc.enable()


def use_uvloop() -> bool:
    """uvloop for every loop created from now on in this process (and its forks); False when absent."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def port_free(host: str, port: int) -> bool:
    """Nobody listens on host:port (not even a group sharing it by SO_REUSEPORT, which we would silently join)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)    # a TIME_WAIT leftover is not a listener
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


_stop_requested: list[int] = []       # the signals received (a flag a handler may set at any moment)
_previous: dict = {}                  # the handlers catch_stop_signals replaced


def catch_stop_signals() -> None:
    """From here on SIGINT / SIGTERM only ask the parent to stop: start-up (migrations, forks) finishes, then
    everything stops cleanly. A raising handler could fire inside a GC callback, where Python drops the
    exception (seen: a Ctrl-C during start-up was lost and the service kept running)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        previous = signal.signal(s, lambda signum, frame: _stop_requested.append(signum))
        _previous.setdefault(s, previous)


def release_stop_signals() -> None:
    """The handlers from before catch_stop_signals (the CLI may run in-process, as tests do)."""
    for s, handler in _previous.items():
        signal.signal(s, handler)
    _previous.clear()
    _stop_requested.clear()


def stop_requested() -> bool:
    return bool(_stop_requested)


@dataclass
class Child:
    name: str
    run: Callable[[], None]            # the child's whole life; it never returns into our code
    restart: bool
    pid: int = 0
    started: float = 0.0
    restarts: list[float] = field(default_factory=list)    # when it was forked again, within the window

    def restarting_too_often(self, now: float) -> bool:
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_SECONDS]
        return len(self.restarts) >= MAX_RESTARTS


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)

    def start(self, child: Child) -> None:
        child.pid, child.started = _fork(child.run), time.monotonic()
        log.info("%s: pid %s", child.name, child.pid)

    def run(self) -> int:
        """Watch the children until a signal (exit 0) or a child that cannot be kept up (exit 1)."""
        catch_stop_signals()
        try:
            for child in self.children:
                if not child.pid and not stop_requested():
                    self.start(child)
            while not stop_requested():
                time.sleep(0.2)                # cheap: five waitpid calls a second on a handful of children
                for child in self.children:
                    done, status = os.waitpid(child.pid, os.WNOHANG)
                    if not done:
                        continue
                    code = os.waitstatus_to_exitcode(status)
                    _mark_dead(child.pid)
                    now = time.monotonic()
                    young = now - child.started < CRASH_LOOP_SECONDS
                    looping = child.restart and child.restarting_too_often(now)
                    if not child.restart or young or looping:
                        why = (" within a second of starting" if young and child.restart else
                               f" after {MAX_RESTARTS} restarts in {RESTART_WINDOW_SECONDS:.0f} s" if looping else "")
                        log.error("%s (pid %s) exited with %s%s; stopping", child.name, child.pid, code, why)
                        child.pid = 0
                        return 1
                    log.warning("%s (pid %s) exited with %s; starting it again", child.name, child.pid, code)
                    child.restarts.append(now)
                    self.start(child)
            return 0
        finally:
            self.stop()

    def stop(self) -> None:
        live = [c for c in self.children if c.pid]
        if live:
            log.info("stopping %s", ", ".join(f"{c.name} (pid {c.pid})" for c in live))
        for child in live:
            _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for child in live:
            while True:
                try:
                    done, _ = os.waitpid(child.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                if time.monotonic() > deadline:
                    log.warning("%s (pid %s) still running after %s s; killing it", child.name, child.pid,
                                STOP_SECONDS)
                    _signal(child.pid, signal.SIGKILL)
                    os.waitpid(child.pid, 0)
                    break
                time.sleep(0.05)
            _mark_dead(child.pid)
            child.pid = 0


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _mark_dead(pid: int) -> None:
    """Live gauges of a dead process stop counting (multiprocess mode; a no-op otherwise)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)


def _fork(run: Callable[[], None]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:                                       # the child: never back into the parent's code (its finally
        for s in (signal.SIGINT, signal.SIGTERM):   # blocks stop the embedded Redis and the rq worker)
            signal.signal(s, signal.SIG_DFL)
        _stop_requested.clear()
        _previous.clear()
        os.setpgrp()               # a terminal's Ctrl-C reaches the parent only: it stops each child once
        run()
        code = 0
    except BaseException:                      # noqa: BLE001 -- logged, then this process ends
        log.exception("child process failed")
    finally:
        logging.shutdown()
        os._exit(code)


def exec_python(argv: list[str], env: dict[str, str]) -> Callable[[], None]:
    """A child's life: another Python program (the rq worker), replacing the forked copy of this one."""
    import sys

    return lambda: os.execve(sys.executable, [sys.executable, *argv], env)


def serve_sandboxes(sandboxes) -> None:
    """A child's life: the local payment sandboxes and fakes, until SIGTERM / SIGINT."""
    from payments.sandboxes import local as local_payments

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop.set)
        async with local_payments.serving(sandboxes):
            await stop.wait()
    asyncio.run(main())
