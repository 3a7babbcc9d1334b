"""Rental rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.domain.stations.wire import CODE
from enerlectra.text.fit import to_gsm7
from enerlectra.ussd.types import Session

MOST_HOURS = 168           # tariff.py's bound on max_extension_hours: the screen checks the tariff's own


def picks_station(session: Session, text: str) -> bool:
    """A code as printed on the cabinet (4-6 digits), or the number of a recent station listed."""
    text = text.strip()
    return bool(CODE.fullmatch(text)) or text in {str(i) for i in range(1, len(session.data.get("recent", [])) + 1)}


def remember_station(session: Session, text: str) -> None:
    text = text.strip()
    recent = session.data.get("recent", [])
    session.data["station"] = text if CODE.fullmatch(text) else recent[int(text) - 1]


def rents(session: Session, text: str) -> bool:
    """1 on the terms: rent, unless the wallet was short and the 1 is the top-up offered instead."""
    return text.strip() == "1" and "topup" not in session.data


def tops_up(session: Session, text: str) -> bool:
    return text.strip() == "1" and "topup" in session.data


def is_hours(session: Session, text: str) -> bool:
    text = text.strip()
    return text.isascii() and text.isdigit() and 1 <= int(text) <= MOST_HOURS


def remember_hours(session: Session, text: str) -> None:
    session.data["hours"] = int(text.strip())


def _area(text: str) -> str:
    """The area as typed, in GSM-7 only: the screen echoes it, and one control or non-GSM character (a handset
    sends them) would make that screen unsendable."""
    return " ".join(to_gsm7(text).split())


def is_area(session: Session, text: str) -> bool:
    text = _area(text)
    return 2 <= len(text) <= 40 and not text.isdigit()


def remember_area(session: Session, text: str) -> None:
    session.data["area"] = _area(text)
