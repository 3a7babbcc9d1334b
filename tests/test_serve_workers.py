"""`enerlectra serve --workers N` (issue 18): N web processes share one port, /metrics on any of them counts the
hops of all, SIGTERM stops every child; `sim load` drives it open loop; bad arguments get one line."""
from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from enerlectra.ports import free_port
from simulator import load
from simulator.http1 import Connection
from tests.test_cli import assert_one_line, enerlectra
from ussd_app import processes

HOPS = 40


def hops_in(text: str) -> float:
    """The sum of ussd_hops_total over its labels in a Prometheus exposition."""
    return sum(float(v) for v in re.findall(r"^ussd_hops_total\{[^}]*\} (\S+)$", text, re.M))


async def fresh(url: str, *, form: dict | None = None, path: str | None = None) -> tuple[int, str]:
    """One request on a new connection (SO_REUSEPORT spreads connections, not requests)."""
    conn = Connection(url)
    try:
        status, body = await (conn.post_form(urlencode(form).encode()) if form else conn.get(path))
        return status, body.decode()
    finally:
        await conn.close()


async def metrics_total(url: str) -> float:
    status, body = await fresh(url, path="/metrics")
    assert status == 200
    return hops_in(body)


def hops_per_process(metrics_dir: Path, scratch: Path) -> dict[int, float]:
    """Each web process's own count, read from its file alone by the same collector /metrics uses."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        own = scratch / path.stem
        own.mkdir()
        shutil.copy(path, own)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(own))
        counts[int(path.stem.split("_")[1])] = sum(
            s.value for m in registry.collect() if m.name == "ussd_hops" for s in m.samples
            if s.name == "ussd_hops_total")
    return counts


def children_of(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() \
        else "X"
    return state not in ("Z", "X")


async def test_two_web_processes_share_the_hops_and_either_counts_them_all(tmp_path):
    server = await load.start_server(2, tmp_path / "home")
    try:
        children = children_of(server.process.pid)
        base = await metrics_total(server.url)
        for n in range(HOPS):
            status, body = await fresh(server.url, form={"sessionId": f"w{n}", "phoneNumber": load.msisdn(n % 5),
                                                         "text": ""})
            assert status == 200 and body.startswith("CON ")
        answers = [await metrics_total(server.url) for _ in range(6)]     # several connections, both processes
        per_process = hops_per_process(tmp_path / "home" / "metrics", tmp_path)
    finally:
        code = server.stop()
    assert answers == [base + HOPS] * 6
    assert len([n for n in per_process.values() if n > 0]) == 2, per_process        # the hops were spread
    assert sum(per_process.values()) == base + HOPS
    # SIGTERM: the parent exits 0 and takes every child with it (web processes, sandboxes, rq worker, Redis).
    assert code == 0
    assert len(children) >= 4, children
    assert [pid for pid in children if alive(pid)] == []
    assert set(per_process) <= children


async def test_sim_load_runs_open_loop_against_a_server_it_starts():
    report = await load.run(rate=20, seconds=2, workers=1, users=4)
    assert report.errors == {}
    assert report.scheduled == 40 and report.answered == 40 and len(report.latencies) == 40
    assert report.cold_start and report.cold_start > 0
    assert any(line.startswith("menu hops (ms, from the due time): p50") for line in report.lines())


BAD = [
    (("serve", "--workers", "0"), "a whole number from 1 to 256"),
    (("sim", "load", "--rate", "0"), "a whole number from 1 to 1000000"),
    (("sim", "load", "--seconds", "nan"), "a number of seconds above 0"),
    (("sim", "load", "--seconds", "-2"), "a number of seconds above 0"),
    (("sim", "load", "--users", "x"), "a whole number from 1 to 10000"),
]


@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_get_one_line(argv, says):
    assert_one_line(*enerlectra(*argv), 2, says)


def test_a_bad_web_workers_variable_gets_one_line(monkeypatch):
    monkeypatch.setenv("WEB_WORKERS", "-3")
    assert_one_line(*enerlectra("serve"), 2, "WEB_WORKERS=-3: a whole number from 1 to 256")


def test_sim_load_against_nothing_gets_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    assert_one_line(*enerlectra("sim", "load", "--url", url, "--seconds", "1"), 1, f"{url} does not answer")


def test_serve_on_a_port_in_use_gets_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERLECTRA_HOME", str(tmp_path / "home"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line(*enerlectra("serve", "--workers", "2", "--port", str(port)), 1, f"{port} is in use")
    assert gc.isenabled()               # serve pauses the collector for start-up; a failed start gives it back


def test_start_up_objects_are_frozen_and_the_collector_is_back_on():
    frozen_before = gc.get_freeze_count()
    processes.pause_gc()
    try:
        assert not gc.isenabled()
        made_at_start_up = [[n] for n in range(1000)]          # containers: what the collector tracks
        processes.resume_gc()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(made_at_start_up)
    finally:
        gc.unfreeze()                   # this test process is no server: its heap goes back to the collector
        gc.enable()


async def test_a_web_process_that_dies_is_started_again_and_its_counts_stay(tmp_path):
    server = await load.start_server(2, tmp_path / "home")
    metrics_dir = tmp_path / "home" / "metrics"
    try:
        for n in range(10):
            await fresh(server.url, form={"sessionId": f"k{n}", "phoneNumber": load.msisdn(n % 3), "text": ""})
        before = await metrics_total(server.url)
        victim = min(int(p.stem.split("_")[1]) for p in metrics_dir.glob("counter_*.db"))
        await asyncio.sleep(processes.CRASH_LOOP_SECONDS)  # younger, its death is a crash loop: all stop
        os.kill(victim, signal.SIGKILL)
        for _ in range(100):                                # the supervisor looks five times a second
            if victim not in children_of(server.process.pid) and len(children_of(server.process.pid)) >= 5 \
                    and await _answers(server.url):
                break
            await asyncio.sleep(0.1)
        for n in range(HOPS):
            status, _ = await fresh(server.url, form={"sessionId": f"r{n}", "phoneNumber": load.msisdn(n % 3),
                                                      "text": ""})
            assert status == 200
        after = await metrics_total(server.url)
        pids = {int(p.stem.split("_")[1]) for p in metrics_dir.glob("counter_*.db")}
    finally:
        assert server.stop() == 0
    assert after == before + HOPS              # the dead process's counts are kept, the new one's added
    assert victim in pids and len(pids) == 3


async def _answers(url: str) -> bool:
    try:
        status, _ = await fresh(url, path="/healthz")
        return status == 200
    except OSError:
        return False


async def test_sim_load_refused_by_the_server_gets_one_line(aiohttp_server):
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=403, text="missing or wrong webhook token\n")
    app = web.Application()
    app.router.add_post(load.USSD_PATH, refuse)
    server = await aiohttp_server(app)
    url = str(server.make_url(""))
    code, out, err = await asyncio.to_thread(enerlectra, "sim", "load", "--url", url, "--seconds", "1")
    assert_one_line(code, out, err, 1, "got 403 'missing or wrong webhook token' (--token? rate limits off?)")


def _dies_soon() -> None:
    time.sleep(0.05)
    raise SystemExit(3)


@pytest.mark.parametrize("crash_loop_seconds, max_restarts, forks", [
    (0.0, 3, 4),       # dies older than the crash-loop age every time: stopped after 3 restarts (4 forks)
    (10.0, 3, 1),      # dies younger than the crash-loop age: stopped at once
])
def test_a_child_that_keeps_dying_stops_the_supervisor(monkeypatch, crash_loop_seconds, max_restarts, forks):
    monkeypatch.setattr(processes, "CRASH_LOOP_SECONDS", crash_loop_seconds)
    monkeypatch.setattr(processes, "MAX_RESTARTS", max_restarts)
    forked: list[int] = []
    real_fork = processes._fork
    monkeypatch.setattr(processes, "_fork", lambda run: forked.append(real_fork(run)) or forked[-1])
    supervisor = processes.Supervisor([processes.Child("web 1", _dies_soon, restart=True)])
    try:
        assert supervisor.run() == 1
    finally:
        processes.release_stop_signals()
    assert len(forked) == forks
