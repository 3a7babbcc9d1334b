"""Cold start of `serve`: spawn to the first answered hop, fresh home and warm home, one process and the default.

    .venv/bin/python -m bench.cold --runs 5 [--importtime 10] [--before DIR] [--check]

A fresh home is an empty ENERLECTRA_HOME (migrations from nothing, the ledger key, the sandboxes' keys); a warm
home is one a `serve` has run in and stopped (migrations at head, keys on disk). Each case is spawned `--runs`
times, in alternation (a shared box drifts), and the medians are printed beside the same run's baseline: a
bare `python -c pass` and a bare aiohttp hello answering its first request, spawned the same way. The
hop is a dial of an unregistered number (the onboarding screen), as bench/serve.py and simulator/load.py take
it. `--importtime N` runs one more warm `--workers 1` serve under `python -X importtime` and prints the N
costliest imports (self and cumulative). `--before DIR` measures another checkout too (made with
`git archive main | tar -x -C DIR`), alternated with this one in the same run. `--check` exits 1 when a
median of this tree is above 1 s (issue 18's target).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.serve import tree_cpu
from enerlectra.ports import free_port
from simulator.http1 import Connection, HttpError
from simulator.load import LOAD_ENV, NOT_INHERITED, USSD_PATH, msisdn

TARGET = 1.0
BARE_APP = """
import sys
from aiohttp import web
async def hop(request):
    await request.post()
    return web.Response(text="CON hello")
app = web.Application()
app.router.add_post("/ussd/africastalking", hop)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


# An installed service has its bytecode (pip compiles it); a shell with PYTHONDONTWRITEBYTECODE would make
# every spawn compile our sources again and measure that instead (the warm-up run writes the __pycache__).
NOT_INHERITED_HERE = (*NOT_INHERITED, "PYTHONDONTWRITEBYTECODE")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED_HERE}
    return {**env, "ENERLECTRA_HOME": str(home), **LOAD_ENV}


async def first_hop(argv: list[str], env: dict[str, str], port: int, stderr=subprocess.DEVNULL,
                    timeout: float = 60, cwd: str | None = None) -> tuple[float, float, subprocess.Popen]:
    """Spawn argv; seconds until a hop posted to 127.0.0.1:port answers 200, and the CPU seconds its process
    tree has spent by then (steadier than the wall clock on a shared box); the process is left running."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                               cwd=cwd)
    body = urlencode({"sessionId": "cold", "phoneNumber": msisdn(0), "text": ""}).encode()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{argv} exited with {process.returncode} before answering")
        if time.perf_counter() - started > timeout:
            stop(process)
            raise RuntimeError(f"{argv} did not answer within {timeout} s")
        conn = Connection(f"http://127.0.0.1:{port}{USSD_PATH}")
        try:
            status, _ = await conn.post_form(body)
            if status == 200:
                return time.perf_counter() - started, tree_cpu(process.pid), process
        except (OSError, HttpError, asyncio.IncompleteReadError):
            pass
        finally:
            await conn.close()
        await asyncio.sleep(0.005)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve_argv(workers: int | None, port: int, python_flags: tuple[str, ...] = ()) -> list[str]:
    argv = [sys.executable, *python_flags, "-m", "ussd_app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return argv + (["--workers", str(workers)] if workers else [])


async def serve_once(home: Path, workers: int | None, tree: str | None = None) -> tuple[float, float]:
    """One spawn of serve; `tree`: another checkout's code (its directory comes first on sys.path)."""
    port = free_port()
    seconds, cpu, process = await first_hop(serve_argv(workers, port), _env(home), port, cwd=tree)
    stop(process)
    return seconds, cpu


async def python_pass() -> tuple[float, float]:
    started, before = time.perf_counter(), os.times()
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", "pass"], check=True)
    after = os.times()
    return time.perf_counter() - started, after.children_user + after.children_system - \
        before.children_user - before.children_system


async def bare_aiohttp() -> tuple[float, float]:
    port = free_port()
    seconds, cpu, process = await first_hop([sys.executable, "-c", BARE_APP, str(port)], dict(os.environ), port)
    stop(process)
    return seconds, cpu


async def importtime(home: Path, top: int, tree: str | None = None) -> list[str]:
    """One warm `serve --workers 1` under -X importtime: its N costliest imports, self and cumulative (ms)."""
    port = free_port()
    log = home / "importtime.log"
    with log.open("wb") as err:
        _, _, process = await first_hop(serve_argv(1, port, ("-X", "importtime")), _env(home), port, stderr=err,
                                        cwd=tree)
        stop(process)
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, cumulative, name = line[len("import time:"):].split("|", 2)
            rows.append((int(own), int(cumulative), name.rstrip()))
    by_self = sorted(rows, reverse=True)[:top]
    by_cumulative = sorted(rows, key=lambda r: r[1], reverse=True)[:top]
    total = sum(r[0] for r in rows) / 1000
    out = [f"top {top} imports by self time (ms), then by cumulative time (ms); total self {total:.0f} ms"]
    out += [f"  {own / 1000:7.1f}  {name.strip()}" for own, _, name in by_self]
    out += ["  --"]
    out += [f"  {cum / 1000:7.1f}  {name.strip()}" for _, cum, name in by_cumulative]
    return out


async def main_async(args: argparse.Namespace) -> int:
    cases: dict[str, list[tuple[float, float]]] = {"python -c pass": [], "bare aiohttp": []}
    workers_kinds = [1, None]
    trees = {"": None, **({"before: ": str(Path(args.before).resolve())} if args.before else {})}
    for label in trees:
        for workers in workers_kinds:
            cases[f"{label}fresh home, --workers {workers or 'default'}"] = []
            cases[f"{label}warm home, --workers {workers or 'default'}"] = []
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-cold-") as root:
        warm = {label: Path(root) / f"warm{n}" for n, label in enumerate(trees)}
        for label, tree in trees.items():
            await serve_once(warm[label], 1, tree)    # now at head, with its keys and bytecode
        for n in range(args.runs):
            cases["python -c pass"].append(await python_pass())
            cases["bare aiohttp"].append(await bare_aiohttp())
            for label, tree in trees.items():
                for workers in workers_kinds:
                    kind = workers or "default"
                    fresh = Path(root) / f"fresh-{n}-{kind}-{len(label)}"
                    cases[f"{label}fresh home, --workers {kind}"].append(await serve_once(fresh, workers, tree))
                    cases[f"{label}warm home, --workers {kind}"].append(await serve_once(warm[label], workers,
                                                                                          tree))
        print(f"spawn to first answered hop, median of {args.runs} (alternated; {os.cpu_count()} cores)")
        bare = statistics.median(wall for wall, _ in cases["bare aiohttp"])
        bare_cpu = statistics.median(cpu for _, cpu in cases["bare aiohttp"])
        print(f"  {'':<38} {'wall s':>7} {'/bare':>6} {'CPU s':>6} {'/bare':>6}  each run's wall s")
        worst = 0.0
        for name, values in cases.items():
            m = statistics.median(wall for wall, _ in values)
            cpu = statistics.median(c for _, c in values)
            if name.startswith(("fresh", "warm")):          # this tree's, not --before's
                worst = max(worst, m)
            print(f"  {name:<38} {m:7.3f} {m / bare:5.2f}x {cpu:6.3f} {cpu / bare_cpu:5.2f}x  "
                  f"[{', '.join(f'{wall:.2f}' for wall, _ in values)}]")
        print(f"worst median {worst:.3f} s (target <= {TARGET} s)")
        if args.importtime:
            for label, tree in trees.items():
                print(f"{label or 'this tree: '}" + "\n".join(await importtime(warm[label], args.importtime, tree)))
    return 1 if args.check and worst > TARGET else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--importtime", type=int, default=0, metavar="N")
    parser.add_argument("--before", metavar="DIR", help="another checkout (e.g. `git archive main | tar -x -C DIR`) "
                        "measured in the same run, alternated with this one: the before of a before/after")
    parser.add_argument("--check", action="store_true", help="exit 1 when a median is above 1 s")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
