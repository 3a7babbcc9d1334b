"""The main menu is built from the installed features: a feature appears when it is registered."""
from __future__ import annotations

from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Nav
from menus.common import press
from menus.main import screens


def build(features: list[Feature]) -> Feature:
    entries = sorted((f for f in features if f.title is not None), key=lambda f: f.order)
    # A user whose PIN support reset chooses a new one first (when the pinreset feature is installed).
    reset = next((f"{f.name}_{f.entry}" for f in features if f.name == "pinreset"), None)
    return Feature(
        name="main",
        entry="menu",
        states=(State("menu", screens.menu_renderer(entries, reset), nav=Nav.NONE,
                      redirects=(reset,) if reset else ()),),
        transitions=tuple(Go("menu", f"{f.name}_{f.entry}", press(str(i)))
                          for i, f in enumerate(entries, start=1)),
    )
