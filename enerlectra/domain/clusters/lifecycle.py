"""A proposal's lifecycle as one sync `transitions` machine, built once, triggered on plain objects.

    open -> passed | rejected | expired
    passed -> executed | execution_failed      (the payout, or the change it makes to the cluster)
A trigger that does not apply (closing a closed proposal) returns None and changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine

STATES = ["open", "passed", "rejected", "expired", "executed", "execution_failed"]
TRANSITIONS = [
    {"trigger": "pass_", "source": "open", "dest": "passed"},
    {"trigger": "reject", "source": "open", "dest": "rejected"},
    {"trigger": "expire", "source": "open", "dest": "expired"},
    {"trigger": "execute", "source": "passed", "dest": "executed"},
    {"trigger": "fail", "source": "passed", "dest": "execution_failed"},
]
MACHINE = Machine(model=None, states=STATES, transitions=TRANSITIONS, initial="open", auto_transitions=False,
                  ignore_invalid_triggers=True)
TRIGGER = {"passed": "pass_", "rejected": "reject", "expired": "expire", "executed": "execute",
           "execution_failed": "fail"}


@dataclass
class Step:
    state: str


def advance(state: str, to: str) -> str | None:
    """`to` when the machine allows it from `state`, else None."""
    step = Step(state)
    return step.state if MACHINE.events[TRIGGER[to]].trigger(step) else None
