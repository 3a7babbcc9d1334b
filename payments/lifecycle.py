"""The payment lifecycle as one sync `transitions` machine, built once, triggered on plain objects.

    created -> submitted -> pending -> succeeded | failed | expired
                     \\-> ambiguous (enquire) -> pending | succeeded | failed | expired
    pending / ambiguous -> review (a provider we cannot ask went quiet, or said so unsigned) -> succeeded | failed
    expired -> succeeded, collections only: the money arrived after we gave up on it, so it is credited
A trigger that does not apply (a second success callback) returns False and changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine

from enerlectra.domain.payment_states import OPEN, STATES

TRANSITIONS = [
    {"trigger": "submit", "source": "created", "dest": "submitted"},
    {"trigger": "accepted", "source": ["submitted", "ambiguous"], "dest": "pending"},
    {"trigger": "unclear", "source": ["submitted", "pending"], "dest": "ambiguous"},
    {"trigger": "succeed", "source": ["submitted", "pending", "ambiguous", "review"], "dest": "succeeded"},
    {"trigger": "succeed", "source": "expired", "dest": "succeeded", "conditions": "is_collection"},
    {"trigger": "fail", "source": list(OPEN), "dest": "failed"},
    {"trigger": "expire", "source": ["submitted", "pending", "ambiguous"], "dest": "expired"},
    {"trigger": "review", "source": ["submitted", "pending", "ambiguous"], "dest": "review"},
]
MACHINE = Machine(model=None, states=STATES, transitions=TRANSITIONS, initial="created", auto_transitions=False,
                  ignore_invalid_triggers=True)


@dataclass
class Step:
    """The plain object the machine moves."""

    state: str
    direction: str = "collection"

    def is_collection(self) -> bool:
        return self.direction == "collection"


def advance(state: str, trigger: str, direction: str = "collection") -> str | None:
    """The new state, or None when `trigger` does not apply to `state`."""
    step = Step(state, direction)
    return step.state if MACHINE.events[trigger].trigger(step) else None
