"""Advisor rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.domain.advisor.topics import TOPICS
from enerlectra.ussd.types import Session

COMMON_KEYS = ("1", "2", "3")
MIN_QUESTION = 3


def picks_topic(session: Session, text: str) -> bool:
    return text.strip() in {str(i) for i in range(1, len(TOPICS) + 1)}


def remember_topic(session: Session, text: str) -> None:
    session.data["topic"] = TOPICS[int(text.strip()) - 1].key


def is_question(session: Session, text: str) -> bool:
    """1-3 picks a common question; anything else with a few letters is the user's own question."""
    text = text.strip()
    if text in COMMON_KEYS:
        return True
    return len(text) >= MIN_QUESTION and any(ch.isalpha() for ch in text)


def remember_question(session: Session, text: str) -> None:
    text = text.strip()
    session.data.pop("pick", None)
    session.data.pop("question", None)
    if text in COMMON_KEYS:
        session.data["pick"] = int(text) - 1
    else:
        session.data["question"] = text
