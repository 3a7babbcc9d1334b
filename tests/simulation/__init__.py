"""A seeded fault-injection simulation that hunts money bugs (issue 15).

One seed draws a step list (`plan.py`): users' money journeys by USSD and SMS, the aggregator's retransmissions,
bursts run at once, faults (Redis lost, provider callbacks lost, duplicated, early or late, a slow provider, a
process killed at a named point, clock jumps). `run.py` runs it in a fresh `world.py` (the app in-process, real
Redis, real SQL, the provider and Africa's Talking fakes) and checks `invariants.py` after every step; a failing
seed replays exactly and shrinks to the steps that still fail. `python -m tests.simulation --help`.
"""
