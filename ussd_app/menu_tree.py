"""The installed features compiled into the one menu machine the engine runs."""
from __future__ import annotations

import menus
from enerlectra.ussd.feature import Feature
from ussd_app.engine.tree import MenuTree


def build_tree(features: tuple[Feature, ...] = menus.FEATURES) -> MenuTree:
    return MenuTree(menus.with_main_menu(features), home=menus.HOME, start=menus.START)


TREE = build_tree()     # built once, at import: never per request
