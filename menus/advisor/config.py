"""Advisor as data: topics -> question (typed, or one of three) -> "your answer will arrive by SMS"."""
from __future__ import annotations

from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from menus.advisor import rules, screens

SAMPLE = {"topic": "trading"}

FEATURE = Feature(
    name="advisor",
    title=lazy_gettext("Ask the advisor"),
    order=95,            # after Settings: options users know (*123*3# Settings) keep their numbers
    entry="menu",
    states=(
        State("menu", screens.menu, hint=lazy_gettext("Type a number from 1 to 5.")),
        State("question", screens.question, sample=SAMPLE,
              hint=lazy_gettext("Type 1, 2 or 3, or write your question.")),
        State("asked", screens.asked, redirects=("advisor_menu",), sample={**SAMPLE, "pick": 0}),
    ),
    transitions=(
        Go("menu", "question", rules.picks_topic, then=rules.remember_topic),
        Go("question", "asked", rules.is_question, then=rules.remember_question),
    ),
)
