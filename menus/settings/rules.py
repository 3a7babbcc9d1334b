"""Settings rules: pure functions of (session, text)."""
from __future__ import annotations

from menus.common import language_picked
from ussd_app.engine.types import Session


def remember_language(session: Session, text: str) -> None:
    session.data["new_lang"] = language_picked(text)
