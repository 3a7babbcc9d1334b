"""Wallet rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.domain.money import BadAmount, parse_amount
from enerlectra.domain.phone import COUNTRIES
from enerlectra.ussd.types import Session


def looks_like_number(session: Session, text: str) -> bool:
    digits = text.strip().replace(" ", "")
    digits = digits[1:] if digits.startswith("+") else digits
    return digits.isascii() and digits.isdigit() and 9 <= len(digits) <= 13


def remember_number(session: Session, text: str) -> None:
    session.data["to"] = text.strip()


def is_amount(session: Session, text: str) -> bool:
    try:
        parse_amount(text, COUNTRIES[session.country][0])
    except BadAmount:
        return False
    return True


def remember_amount(session: Session, text: str) -> None:
    session.data["amount"] = parse_amount(text, COUNTRIES[session.country][0])
