"""The menu tree: feature configs (data) compiled once into ONE sync HierarchicalMachine.

A feature declares its states and transitions as data; conditions are pure functions of
(session, input). The machine is built at import and defines the tree (lint and the graph read it); a hop
moves through a flat table compiled from the same transitions, in the machine's order (issue 18: the
machine's trigger cost a hop more CPU than the rest of the tree's work; tests/test_tree_moves.py holds the
two to the same moves).
"""
from __future__ import annotations

import logging

from transitions.extensions import HierarchicalMachine

from enerlectra.ussd.feature import Feature, State
from enerlectra.ussd.types import Action, Rule, Session

# No log line on the hot path: a condition that fails is how a wrong key looks, not news (issue 18).
logging.getLogger("transitions").setLevel(logging.ERROR)

INPUT = "input"            # the one trigger: the user typed something


def _full(feature: Feature, local: str) -> str:
    """Local names are prefixed with their feature; names with a '_' already are full names."""
    return local if "_" in local else f"{feature.name}_{local}"


class MenuTree:
    """The compiled tree: the machine, each state's spec, and the graph for lint and Mermaid."""

    def __init__(self, features: list[Feature], home: str, start: str):
        self.features = features
        self.home = home        # where a registered user lands (00 Home)
        self.start = start      # where a new user starts
        self.states: dict[str, State] = {}
        self.edges: list[tuple[str, str, str]] = []     # (source, dest, label)
        # source -> its transitions in the order added: what the machine tries, first condition true wins
        self.moves: dict[str, list[tuple[Rule, Action | None, str]]] = {}
        self.entries = {f"{f.name}_{f.entry}" for f in features}
        machine_states: list[dict] = []
        for feature in features:
            machine_states.append({"name": feature.name, "children": [s.name for s in feature.states],
                                   "initial": feature.entry})
            for state in feature.states:
                if "_" in state.name:
                    raise ValueError(f"feature {feature.name}: local state names have no '_' ({state.name})")
                self.states[f"{feature.name}_{state.name}"] = state
        self.machine = HierarchicalMachine(
            model=None, states=machine_states, initial=start, auto_transitions=False,
            send_event=True, ignore_invalid_triggers=True)
        for feature in features:
            for go in feature.transitions:
                source, dest = _full(feature, go.source), _full(feature, go.dest)
                for name in (source, dest):
                    if name not in self.states:
                        raise ValueError(f"feature {feature.name}: unknown state {name!r}")
                self.machine.add_transition(
                    INPUT, source, dest, conditions=[_condition(go.when)],
                    before=[_action(go.then)] if go.then else None)
                self.edges.append((source, dest, go.when.__name__))
                self.moves.setdefault(source, []).append((go.when, go.then, dest))
            for local, state in ((s.name, s) for s in feature.states):
                for target in state.redirects:
                    if target not in self.states:
                        raise ValueError(f"{feature.name}_{local}: redirect to unknown state {target!r}")
                    self.edges.append((f"{feature.name}_{local}", target, "redirect"))
        self.reads_input = {source for source, _dest, label in self.edges if label != "redirect"}
        self._codes, self._names, self._width = screen_codes(list(self.states))

    def reach(self, session: Session, name: str) -> None:
        """Mark a screen reached (Session.screens, for the session-end record): first-reached order, once."""
        code = self._codes[name]
        held = session.screens
        if not any(held[i:i + self._width] == code for i in range(0, len(held), self._width)):
            session.screens = held + code

    def reached(self, session: Session) -> list[str]:
        """The state names Session.screens holds (a code this tree does not know, after a deploy: left out)."""
        held, width = session.screens, self._width
        return [self._names[held[i:i + width]] for i in range(0, len(held), width) if held[i:i + width] in self._names]

    def move(self, session: Session, text: str) -> bool:
        """One input; True when a transition fired: the first of the state's transitions whose condition
        holds runs its action, then the session is in its destination (what the machine's trigger does:
        every source is a leaf state, so no parent's transitions are ever tried)."""
        for when, then, dest in self.moves.get(session.state, ()):
            if when(session, text):
                if then is not None:
                    then(session, text)
                session.state = dest
                return True
        return False

    def machine_move(self, session: Session, text: str) -> bool:
        """The same move through the `transitions` machine (tests hold `move` to it)."""
        if session.state not in self.reads_input:
            return False
        return bool(self.machine.trigger_event(session, INPUT, text=text))

    def mid_journey(self, name: str) -> bool:
        """A screen a dropped call is worth resuming at: a step that reads an answer (a prompt, a confirm),
        not home, a feature's menu, a screen that only shows (a balance, the market) or a list to pick from."""
        return (name in self.reads_input and name not in (self.home, self.start)
                and name not in self.entries and not self.states[name].resting)

    def set_state(self, session: Session, name: str) -> None:
        if name not in self.states:
            raise KeyError(f"unknown state {name!r}")
        session.state = name

    def menu_features(self) -> list[Feature]:
        return sorted((f for f in self.features if f.title is not None), key=lambda f: f.order)


# Printable ASCII that JSON keeps as one byte (no quote, no backslash): one character a screen for up to 92 states.
CODE_ALPHABET = "".join(chr(c) for c in range(33, 127) if chr(c) not in '"\\')


def screen_codes(names: list[str]) -> tuple[dict[str, str], dict[str, str], int]:
    """A short fixed-width code per state, by its place in the tree (a live session spanning a deploy that
    adds states may misname a screen or two of its record: accepted, sessions last minutes)."""
    width = 1
    while len(CODE_ALPHABET) ** width < len(names):
        width += 1
    codes = {}
    for index, name in enumerate(names):
        digits = ""
        for _place in range(width):
            index, digit = divmod(index, len(CODE_ALPHABET))
            digits = CODE_ALPHABET[digit] + digits
        codes[name] = digits
    return codes, {code: name for name, code in codes.items()}, width


def _condition(rule: Rule):
    def condition(event) -> bool:
        return rule(event.model, event.kwargs.get("text", ""))
    condition.__name__ = rule.__name__
    return condition


def _action(action: Action):
    def callback(event) -> None:
        action(event.model, event.kwargs.get("text", ""))
    callback.__name__ = action.__name__
    return callback
