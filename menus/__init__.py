"""Menu trees, one package per feature, written in `enerlectra.ussd` (states, screens, transitions as data).

To install a feature, import its package here and add its FEATURE to FEATURES: the main menu lists it from
then on. The engine (`ussd_app.menu_tree`) compiles them into one machine.
"""
from __future__ import annotations

from enerlectra.ussd.feature import Feature
from menus import advisor, clusters, main, money, onboarding, pinreset, rentals, settings, trading, wallet

FEATURES: tuple[Feature, ...] = (onboarding.FEATURE, wallet.FEATURE, money.FEATURE, advisor.FEATURE,
                                 trading.FEATURE, clusters.FEATURE, rentals.FEATURE, settings.FEATURE,
                                 pinreset.FEATURE)
HOME = "main_menu"              # where a registered user lands (00 Home)
START = "onboarding_language"   # where a new number starts


def with_main_menu(features: tuple[Feature, ...] = FEATURES) -> list[Feature]:
    """The features and the main menu that lists them."""
    return list(features) + [main.build(list(features))]
