"""Settings rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.ussd.types import Session
from menus.common import language_picked


def remember_language(session: Session, text: str) -> None:
    session.data["new_lang"] = language_picked(text)


def on_or_off(session: Session, text: str) -> bool:
    return text.strip() in ("1", "2")


def remember_on_or_off(session: Session, text: str) -> None:
    session.data["sms_pin"] = text.strip() == "1"
