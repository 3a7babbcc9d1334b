"""Menu trees, one package per feature. The installed features make the tree; order is irrelevant.

To install a feature, add its package name to INSTALLED: the main menu lists it from then on.
"""
from __future__ import annotations

from importlib import import_module

from menus import main
from ussd_app.engine.tree import Feature, MenuTree

INSTALLED: tuple[str, ...] = ("onboarding", "wallet", "money", "advisor", "trading", "clusters", "settings",
                             "pinreset")


def build_tree(installed: tuple[str, ...] = INSTALLED) -> MenuTree:
    features: list[Feature] = [import_module(f"menus.{name}").FEATURE for name in installed]
    return MenuTree(features + [main.build(features)], home="main_menu", start="onboarding_language")


TREE = build_tree()     # built once, at import: never per request
