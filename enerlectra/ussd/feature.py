"""A feature as data: its states (screens), the transitions between them, and its place on the main menu.

Features (the `menus` package) are written in these; the engine (`ussd_app.engine.tree`) compiles them
into one machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from babel.support import LazyProxy

from enerlectra.ussd.types import Action, Nav, Renderer, Rule


@dataclass(frozen=True)
class State:
    """One screen. `name` is local to its feature; the machine calls it `<feature>_<name>`."""

    name: str
    screen: Renderer
    # the line shown above the screen after a wrong key; a function of the session when it depends on it
    hint: LazyProxy | str | Callable[[Any], str] | None = None
    nav: Nav = Nav.FULL
    redirects: tuple[str, ...] = ()             # full state names its renderer may Redirect to
    sample: dict[str, Any] = field(default_factory=dict)   # session data that lint renders it with
    sample_input: str = "1"
    resting: bool = False       # a list to look at or pick from: a call dropped here is not offered again


@dataclass(frozen=True)
class Go:
    """A transition on input: from `source` to `dest` when `when(session, text)` holds."""

    source: str
    dest: str
    when: Rule
    then: Action | None = None       # pure: store the answer in session.data


@dataclass(frozen=True)
class Feature:
    name: str
    states: tuple[State, ...]
    transitions: tuple[Go, ...]
    entry: str                                   # local name of the first state
    title: LazyProxy | None = None               # main-menu label; None: not on the main menu
    order: int = 100                             # main-menu position
