"""The fault-injection simulation in CI (issue 15): a few fixed seeds hold every invariant, a seed replays
exactly, and each money defect of issue 14, planted again behind its switch (enerlectra/faults.py), is caught
within these seeds by the invariant that guards it. Long hunts: `python -m tests.simulation --seeds 1000`.
"""
from __future__ import annotations

import pytest

from enerlectra.faults import DEFECTS
from tests.simulation.plan import plan, setup_steps
from tests.simulation.run import run_seed, run_steps

CI_SEEDS = (1, 2, 3)                 # every invariant holds on each
CI_STEPS = 100
DEFECT_SEEDS = (1, 2, 3, 4, 5, 6)    # a planted defect is hunted through these, stopping at the first failure

# Each planted defect, and what the invariant that catches it says.
CAUGHT_BY = {
    "half_placed_order": "escrow: order",                     # an open order holding less than it needs
    "pin_no_reservation": "wrong PINs at once were weighed",  # more guesses weighed than tries left
    "payment_key_from_redis": "payments from",                # more payments than money hops
    "limits_outside_lock": "daily limit",
    "end_not_remembered": "ended with",                       # a later hop of an ended session ran
    "foreign_number_accepted": "was answered",                # another number drove the session
}


def test_simulation_plans_cover_every_defect_table_entry():
    assert set(CAUGHT_BY) == DEFECTS


def test_simulation_a_seed_gives_the_same_step_list():
    assert plan(7, 300) == plan(7, 300)
    assert plan(7, 300) != plan(8, 300)
    assert plan(7, 300)[:len(setup_steps()) + 150] == plan(7, 150), "a longer run starts with the shorter one"


@pytest.mark.parametrize("seed", CI_SEEDS)
async def test_simulation_seed_holds_every_invariant(seed, redis_url, tmp_path):
    out = await run_seed(seed, CI_STEPS, redis_url, tmp_path)
    assert out.ok, f"seed {seed} failed at step {out.failed_at}: {out.problem}\n" \
                   f"replay: python -m tests.simulation --replay {seed} --steps {CI_STEPS} --verbose"
    assert len(out.verdicts) == len(out.steps) + 1, "every step and the drain were checked"


async def test_simulation_replays_a_seed_exactly(redis_url, tmp_path):
    """The same seed twice: the same steps, the same verdict after every step, the same final balances."""
    first = await run_seed(4, 60, redis_url, tmp_path, stop=False)
    again = await run_steps(4, first.steps, redis_url, tmp_path, stop=False)
    assert first.verdicts == again.verdicts
    assert first.balances == again.balances and len(first.balances) > 10


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
async def test_simulation_finds_each_planted_defect(defect, redis_url, tmp_path):
    for seed in DEFECT_SEEDS:
        out = await run_seed(seed, CI_STEPS, redis_url, tmp_path, defects=(defect,))
        if not out.ok:
            assert CAUGHT_BY[defect] in out.problem, out.problem
            print(f"{defect}: seed {seed}, step {out.failed_at}: {out.problem[:120]}")
            return
    pytest.fail(f"{defect} planted, and seeds {DEFECT_SEEDS} of {CI_STEPS} steps held every invariant")
