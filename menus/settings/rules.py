"""Settings rules: pure functions of (session, text)."""
from __future__ import annotations

from menus.common import language_picked
from ussd_app.engine.types import Session


def remember_language(session: Session, text: str) -> None:
    session.data["new_lang"] = language_picked(text)


def looks_like_meter(session: Session, text: str) -> bool:
    """Meter numbers are letters, digits and dashes, 3 to 40 of them."""
    text = text.strip()
    return 3 <= len(text) <= 40 and text.isascii() and all(ch.isalnum() or ch == "-" for ch in text)


def on_or_off(session: Session, text: str) -> bool:
    return text.strip() in ("1", "2")


def remember_on_or_off(session: Session, text: str) -> None:
    session.data["sms_pin"] = text.strip() == "1"
