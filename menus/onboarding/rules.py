"""Onboarding rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.domain.users import clean_name
from enerlectra.ussd.types import Session
from menus.common import language_picked


def set_language(session: Session, text: str) -> None:
    session.lang = language_picked(text)


def valid_name(session: Session, text: str) -> bool:
    return clean_name(text) is not None


def set_name(session: Session, text: str) -> None:
    session.data["name"] = clean_name(text)
