"""The payment lifecycle as one sync `transitions` machine, built once, triggered on plain objects.

    created -> submitted -> pending -> succeeded | failed | expired
                     \\-> ambiguous (enquire) -> pending | succeeded | failed | expired
A trigger that does not apply (a second success callback) returns False and changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine

STATES = ["created", "submitted", "pending", "ambiguous", "succeeded", "failed", "expired"]
OPEN = ("created", "submitted", "pending", "ambiguous")
TRANSITIONS = [
    {"trigger": "submit", "source": "created", "dest": "submitted"},
    {"trigger": "accepted", "source": ["submitted", "ambiguous"], "dest": "pending"},
    {"trigger": "unclear", "source": ["submitted", "pending"], "dest": "ambiguous"},
    {"trigger": "succeed", "source": ["submitted", "pending", "ambiguous"], "dest": "succeeded"},
    {"trigger": "fail", "source": list(OPEN), "dest": "failed"},
    {"trigger": "expire", "source": ["submitted", "pending", "ambiguous"], "dest": "expired"},
]
MACHINE = Machine(model=None, states=STATES, transitions=TRANSITIONS, initial="created", auto_transitions=False,
                  ignore_invalid_triggers=True)


@dataclass
class Step:
    """The plain object the machine moves."""

    state: str


def advance(state: str, trigger: str) -> str | None:
    """The new state, or None when `trigger` does not apply to `state`."""
    step = Step(state)
    return step.state if MACHINE.events[trigger].trigger(step) else None
