"""`enerlectra sim load`: an open-loop load generator of USSD menu walks (Africa's Talking form hops).

Open loop: hop i is due at start + i / rate whatever the server's latency, and its latency is measured from
that due time, so a slow server shows up as latency, not as fewer requests (no coordinated omission). The
hops are taken, in due order, by `users` registered users, each on its own keep-alive HTTP/1.1 connection
(simulator/http1.py) walking the menus one hop after another (a USSD session is sequential); when every user
is waiting for an answer, due hops queue and their wait counts.

Without --url it starts `enerlectra serve --workers N` itself on embedded defaults in a temporary home (rate
limits off, a cheap PIN KDF for the users it registers), and says how long the server took from spawn to its
first answered hop. With --url the users are registered through the onboarding screens first (a number that
is registered already just walks); that server's rate limits must allow the rate (RATE_*=0).
"""
from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from enerlectra.ports import free_port
from simulator.http1 import Connection, HttpError

USSD_PATH = "/ussd/africastalking"
WALK = ["1", "1", "0", "2", "0", "00", "1", "00"]     # main -> wallet -> history -> back -> send -> back ...
PIN = "4826"
FIRST_NUMBER = 9719_00000                             # +2609719xxxxx: Airtel Zambia numbers kept for load


def msisdn(n: int) -> str:
    return f"+260{FIRST_NUMBER + n}"


# --- the server under load ---------------------------------------------------------------------------------

# Embedded defaults for a load run: limits off (one address and a few numbers send everything), quiet logs
# (no access line per hop), a cheap KDF for the users registered (their PINs protect nothing here).
LOAD_ENV = {"RATE_WEBHOOK_PER_IP": "0", "RATE_USSD_HOPS_PER_MSISDN": "0", "RATE_USSD_SESSIONS_PER_MSISDN": "0",
            "LOG_LEVEL": "WARNING", "PIN_KDF_COST": "1024"}
NOT_INHERITED = ("REDIS_URL", "DATABASE_URL", "ENERLECTRA_DB_SCHEMA", "WEBHOOK_TOKEN", "PORT", "WEB_WORKERS",
                 "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


@dataclass
class Server:
    process: subprocess.Popen
    url: str                      # the USSD webhook
    cold_start: float = 0.0       # seconds from spawn to the first answered hop

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


async def start_server(workers: int, home: Path, env: dict[str, str] | None = None,
                       timeout: float = 60) -> Server:
    """`enerlectra serve --workers N` on embedded defaults in `home`; returns once it answers a hop."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    child_env.update({"ENERLECTRA_HOME": str(home), **LOAD_ENV, **(env or {})})
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "ussd_app.cli", "serve", "--workers", str(workers),
                                "--host", "127.0.0.1", "--port", str(port)], env=child_env,
                               stdin=subprocess.DEVNULL)
    server = Server(process, f"http://127.0.0.1:{port}{USSD_PATH}")
    body = urlencode({"sessionId": "load-warm", "phoneNumber": msisdn(0), "text": ""}).encode()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode} before answering")
        if time.perf_counter() - started > timeout:
            server.stop()
            raise RuntimeError(f"serve did not answer within {timeout} s")
        conn = Connection(server.url)
        try:
            status, _ = await conn.post_form(body)
            if status == 200:
                server.cold_start = time.perf_counter() - started
                return server
        except (OSError, HttpError, asyncio.IncompleteReadError):
            pass
        finally:
            await conn.close()
        await asyncio.sleep(0.01)


# --- users ---------------------------------------------------------------------------------------------------

class NotReady(Exception):
    """The server under load refused to register a user (a token, a rate limit): one line, not a traceback."""


class BadReply(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class User:
    number: str
    conn: Connection
    session: int = 0
    step: int = 0                 # 0: the dial; then WALK[step - 1]
    inputs: list[str] = field(default_factory=list)

    def _form(self, session_id: str, text: str) -> bytes:
        return urlencode({"sessionId": session_id, "phoneNumber": self.number, "serviceCode": "*123#",
                          "networkCode": "64502", "text": text}).encode()

    async def hop(self) -> str:
        """The next hop of this user's walk; a new session after the last. Raises BadReply."""
        if self.step == 0:
            self.session += 1
            self.inputs = []
        else:
            self.inputs.append(WALK[self.step - 1])
        form = self._form(f"load-{self.number[1:]}-{os.getpid()}-{self.session}", "*".join(self.inputs))
        self.step = (self.step + 1) % (len(WALK) + 1)
        try:
            status, body = await self.conn.post_form(form)
        except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
            self.step = 0
            raise BadReply(f"connection: {type(exc).__name__}") from None
        if status != 200:
            self.step = 0
            raise BadReply(f"http {status}")
        if not body.startswith(b"CON "):          # the walk never ends a session: an END is a refusal
            self.step = 0
            raise BadReply("END " + body[4:40].decode(errors="replace").split("\n")[0])
        return body.decode(errors="replace")

    async def register(self, name: str) -> None:
        """Through the onboarding screens (English, name, PIN twice); a registered number just sees the menu."""
        sid = f"load-reg-{self.number[1:]}-{os.getpid()}"
        inputs: list[str] = []
        for answer in [None, "1", name, PIN, PIN]:
            if answer is not None:
                inputs.append(answer)
            status, body = await self.conn.post_form(self._form(sid, "*".join(inputs)))
            if status != 200 or not body.startswith(b"CON"):
                raise NotReady(f"registering {self.number} through the onboarding screens got {status} "
                               f"{body[:80].decode(errors='replace').strip()!r}")
            if answer is None and b"Choose your language" not in body:
                return                             # registered already: the main menu


async def make_users(url: str, count: int) -> list[User]:
    users = [User(msisdn(n), Connection(url)) for n in range(count)]
    queue = list(users)

    async def registrar() -> None:
        while queue:
            user = queue.pop()
            await user.register(f"Load{user.number[-4:]}")
    await asyncio.gather(*(registrar() for _ in range(min(8, count))))
    return users


# --- the report ---------------------------------------------------------------------------------------------

@dataclass
class Report:
    offered_rate: float           # hops/s scheduled (0: closed loop)
    seconds: float
    scheduled: int = 0
    answered: int = 0
    elapsed: float = 0.0          # first due time to the last answer
    latencies: list[float] = field(default_factory=list)     # seconds, menu hops answered CON
    errors: Counter = field(default_factory=Counter)
    late: int = 0                 # hops sent 10 ms or more after their due time (every user was busy)
    cold_start: float | None = None
    workers: int | None = None
    server_cpu_ms: float = 0.0    # bench/serve.py: CPU of the serve process tree per hop answered
    client_cpu_ms: float = 0.0    # and of this generator

    async def hop(self, user: "User", since: float) -> None:
        """One hop of `user`, its latency counted from `since` (its due time, or when it was sent)."""
        try:
            await user.hop()
            self.latencies.append(asyncio.get_running_loop().time() - since)
            self.answered += 1
        except BadReply as exc:
            self.errors[exc.kind] += 1

    @property
    def achieved_rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed else 0.0

    def ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def lines(self) -> list[str]:
        where = f"serve --workers {self.workers} (started here)" if self.workers else "the given server"
        out = []
        if self.cold_start is not None:
            out.append(f"cold start: {self.cold_start:.2f} s from spawn to the first answered hop")
        offered = f"offered {self.offered_rate:.0f} hops/s for {self.seconds:g} s ({self.scheduled} hops)" \
            if self.offered_rate else f"closed loop for {self.seconds:g} s"
        out.append(f"{offered} against {where}")
        out.append(f"achieved {self.achieved_rate:.0f} hops/s: {self.answered} answered, "
                   f"{sum(self.errors.values())} errors, {self.late} sent 10 ms or more late")
        if self.latencies:
            out.append(f"menu hops (ms, from the due time): p50 {self.ms(0.5):.1f}  p90 {self.ms(0.9):.1f}  "
                       f"p99 {self.ms(0.99):.1f}  max {max(self.latencies) * 1000:.1f}  "
                       f"mean {statistics.mean(self.latencies) * 1000:.1f}")
        for kind, n in self.errors.most_common(5):
            out.append(f"error {kind}: {n}")
        return out


# --- the two loops --------------------------------------------------------------------------------------------

async def open_loop(users: list[User], rate: float, seconds: float) -> Report:
    """Hops due on a fixed schedule, taken by whichever user is free; latency from the due time."""
    loop = asyncio.get_running_loop()
    total = max(1, int(rate * seconds))
    report = Report(offered_rate=rate, seconds=seconds, scheduled=total)
    due: asyncio.Queue[float | None] = asyncio.Queue()
    start = loop.time() + 0.05
    last_answer = start

    async def schedule() -> None:
        i = 0
        while i < total:
            now = loop.time()
            while i < total and start + i / rate <= now:      # everything due by now, in order
                due.put_nowait(start + i / rate)
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        for _ in users:
            due.put_nowait(None)

    async def take(user: User) -> None:
        nonlocal last_answer
        while (t := await due.get()) is not None:
            if loop.time() - t >= 0.010:
                report.late += 1
            await report.hop(user, t)
            last_answer = loop.time()

    await asyncio.gather(schedule(), *(take(u) for u in users))
    report.elapsed = last_answer - start
    return report


async def closed_loop(users: list[User], seconds: float) -> Report:
    """Each user sends its next hop as soon as the last is answered (bench/serve.py: capacity, not latency)."""
    loop = asyncio.get_running_loop()
    report = Report(offered_rate=0, seconds=seconds)
    start = loop.time()
    end = start + seconds

    async def walk(user: User) -> None:
        while loop.time() < end:
            await report.hop(user, loop.time())
    await asyncio.gather(*(walk(u) for u in users))
    report.elapsed = loop.time() - start
    return report


async def close_all(users: list[User]) -> None:
    await asyncio.gather(*(u.conn.close() for u in users))


# --- the command ------------------------------------------------------------------------------------------

async def run(rate: float, seconds: float, url: str | None = None, workers: int = 2, users: int = 64,
              token: str | None = None) -> Report:
    """What `sim load` prints, as a Report (tests read it)."""
    if url:
        target = url.rstrip("/")
        target = target if target.endswith(USSD_PATH) or "/ussd/" in target else target + USSD_PATH
        if token:
            target += ("&" if "?" in target else "?") + urlencode({"token": token})
        try:
            crowd = await make_users(target, users)
        except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
            raise SystemExit(f"enerlectra: sim load: {url} does not answer: {exc or type(exc).__name__}") from None
        except NotReady as exc:
            raise SystemExit(f"enerlectra: sim load: {exc} (--token? rate limits off?)") from None
        try:
            return await open_loop(crowd, rate, seconds)
        finally:
            await close_all(crowd)
    with tempfile.TemporaryDirectory(prefix="enerlectra-load-") as home:
        server = await start_server(workers, Path(home))
        try:
            crowd = await make_users(server.url, users)
            try:
                report = await open_loop(crowd, rate, seconds)
            finally:
                await close_all(crowd)
        finally:
            code = server.stop()
        if code != 0:
            report.errors[f"serve exited with {code}"] += 1
        report.cold_start, report.workers = server.cold_start, workers
        return report


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(rate: float, seconds: float, url: str | None, workers: int, users: int, token: str | None) -> int:
    use_uvloop()                   # the generator's own loop: cheaper per hop, more of the box for the server
    report = asyncio.run(run(rate, seconds, url, workers, users, token))
    print("\n".join(report.lines()))
    return 1 if report.errors else 0
