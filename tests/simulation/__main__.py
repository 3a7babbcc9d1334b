"""`python -m tests.simulation`: run many seeds, print the first failing one and its shortest failing step list.

    python -m tests.simulation --seeds 1000 --steps 1000            # hunt: seeds 1..1000
    python -m tests.simulation --replay 17 --steps 1000 --verbose    # one seed again, step by step
    python -m tests.simulation --replay-file failing.json            # a (shrunk) list saved by a hunt
    python -m tests.simulation --defect half_placed_order --seeds 5  # with a planted defect (enerlectra/faults.py)

Real Redis from REDIS_URL (else an embedded server), SQL from TEST_DATABASE_URL (else a SQLite file).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from enerlectra.faults import DEFECTS
from tests.simulation.run import Outcome, dump_steps, load_steps, redis_server, run_seed, run_steps, shrink


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.simulation", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20, help="how many seeds to run (from --first)")
    p.add_argument("--first", type=int, default=1, help="the first seed")
    p.add_argument("--steps", type=int, default=200, help="random steps per seed (after the setup)")
    p.add_argument("--replay", type=int, help="run this one seed and print every step")
    p.add_argument("--replay-file", type=Path, help="run a step list saved by a hunt (JSON)")
    p.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS), help="plant a defect")
    p.add_argument("--no-shrink", action="store_true", help="report the first failure as it is")
    p.add_argument("--save", type=Path, default=Path("simulation-failure.json"),
                   help="where the shortest failing list goes")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def _show(out: Outcome) -> None:
    for i, (step, verdict) in enumerate(zip(out.steps + ["drain"], out.verdicts)):
        print(f"{i:5d} {step}{'  !! ' + verdict if verdict else ''}")
    print(f"seed {out.seed}: {'ok' if out.ok else 'FAILED at step ' + str(out.failed_at)} in {out.seconds:.1f} s")


async def _hunt(a: argparse.Namespace, url: str, work: Path) -> int:
    started, total = time.monotonic(), 0
    defects = tuple(a.defect)
    for seed in range(a.first, a.first + a.seeds):
        out = await run_seed(seed, a.steps, url, work, defects=defects)
        total += len(out.verdicts)
        if out.ok:
            print(f"seed {seed}: ok ({len(out.verdicts)} steps, {out.seconds:.1f} s)", flush=True)
            continue
        print(f"seed {seed}: FAILED at step {out.failed_at}: {out.problem}", flush=True)
        steps = out.steps if a.no_shrink else await shrink(out, url, work, defects=defects, progress=print)
        a.save.write_text(dump_steps(seed, steps))
        print(f"shortest failing list ({len(steps)} steps, saved to {a.save}; replay with --replay-file):")
        for i, step in enumerate(steps):
            print(f"{i:5d} {step}")
        return 1
    print(f"{a.seeds} seeds, {total} steps, all invariants held, {time.monotonic() - started:.0f} s")
    return 0


async def _main(a: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="enerlectra-sim-") as tmp, redis_server(Path(tmp)) as url:
        work = Path(tmp)
        if a.replay is not None or a.replay_file is not None:
            if a.replay_file is not None:
                seed, steps = load_steps(a.replay_file.read_text())
                out = await run_steps(seed, steps, url, work, defects=tuple(a.defect))
            else:
                out = await run_seed(a.replay, a.steps, url, work, defects=tuple(a.defect))
            _show(out) if a.verbose or not out.ok else print(f"seed {out.seed}: ok in {out.seconds:.1f} s")
            return 0 if out.ok else 1
        return await _hunt(a, url, work)


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    logging.disable(logging.ERROR)        # the app and rq log each injected fault; the verdicts say enough
    return asyncio.run(_main(a))


if __name__ == "__main__":
    sys.exit(main())
