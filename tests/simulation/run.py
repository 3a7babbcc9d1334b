"""Running a step list in a fresh world, checking the invariants after every step, and shrinking a failure.

`run_steps` is the one way to run: a seed's plan, a shrunk list, or a replay all go through it. A run ends
with a drain (faults off, every callback delivered, the jobs run twice) and a last check, so the final
balances of a passing run are what a replay of the same seed must reproduce.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from enerlectra import faults
from enerlectra.embedded_redis import EmbeddedRedis
from tests.simulation import invariants
from tests.simulation.journeys import STEPS, jobs
from tests.simulation.plan import Step, plan, setup_steps
from tests.simulation.world import DECIDE_AFTER, World, open_world


@dataclass
class Outcome:
    seed: int
    steps: list[Step]
    verdicts: list[str] = field(default_factory=list)      # per step run: "" or its problems
    failed_at: int | None = None                            # the first failing step (len(steps): the drain)
    balances: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed_at is None

    @property
    def problem(self) -> str:
        return "" if self.ok else self.verdicts[self.failed_at]


async def run_steps(seed: int, steps: list[Step], redis_url: str, workdir: Path, *,
                    defects: tuple[str, ...] = (), stop: bool = True) -> Outcome:
    """Run `steps` (with `defects` planted) in a fresh world; stop at the first failing step unless told not."""
    out, started = Outcome(seed, list(steps)), time.monotonic()
    faults.enable(*defects)
    try:
        async with open_world(seed, redis_url, workdir) as world:
            for i, step in enumerate(steps):
                out.verdicts.append(await _one(world, step))
                if out.verdicts[-1] and out.failed_at is None:
                    out.failed_at = i
                    if stop:
                        break
            if out.ok or not stop:
                out.verdicts.append(await _drain(world))
                out.failed_at = len(steps) if out.ok and out.verdicts[-1] else out.failed_at
                out.balances = await invariants.balances(world)
    finally:
        faults.enable()
        faults.disarm()
    out.seconds = time.monotonic() - started
    return out


async def _one(world: World, step: Step) -> str:
    try:
        await STEPS[step.kind](world, step)
    except Exception as exc:         # a step of ours that raises is a finding too (the app's 5xx are counted)
        world.violate(f"step {step} raised {type(exc).__name__}: {exc}")
    await world.quiesce()
    return "; ".join(await invariants.check(world))


async def _drain(world: World) -> str:
    """Faults off, then let everything settle: callbacks delivered, payments reconciled, SMS sent."""
    faults.disarm()
    for fake in world.fakes.values():
        fake.failures.clear()
        fake.decide_after, fake.answer_after = DECIDE_AFTER, 0.0
    for _ in range(2):
        await world.quiesce()
        await jobs(world)
    await world.quiesce()
    return "; ".join(await invariants.check(world))


async def run_seed(seed: int, count: int, redis_url: str, workdir: Path, **kw) -> Outcome:
    return await run_steps(seed, plan(seed, count), redis_url, workdir, **kw)


async def shrink(out: Outcome, redis_url: str, workdir: Path, *, defects: tuple[str, ...] = (),
                 budget: int = 60, progress: Callable[[str], None] = lambda _: None) -> list[Step]:
    """The shortest list found that still fails: drop chunks of steps (halving their size), keep the setup."""
    head = len(setup_steps())
    body = out.steps[head:out.failed_at + 1]
    chunk = max(1, len(body) // 2)
    while chunk >= 1 and budget > 0:
        i = 0
        while i < len(body) and budget > 0:
            budget -= 1
            candidate = body[:i] + body[i + chunk:]
            tried = await run_steps(out.seed, out.steps[:head] + candidate, redis_url, workdir, defects=defects)
            if tried.ok:
                i += chunk
                continue
            body = candidate[:max(0, tried.failed_at - head) + 1]
            progress(f"  {len(body)} steps still fail: {tried.problem[:100]}")
        chunk //= 2
    return out.steps[:head] + body


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """REDIS_URL when set, else an embedded server for as long as the block runs."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis.start(workdir / "redis")
    try:
        yield server.url
    finally:
        server.stop()


def dump_steps(seed: int, steps: list[Step]) -> str:
    return json.dumps({"seed": seed, "steps": [asdict(s) for s in steps]})


def load_steps(text: str) -> tuple[int, list[Step]]:
    data = json.loads(text)
    return data["seed"], [Step(d["kind"], d["user"], tuple(d["args"])) for d in data["steps"]]
