"""Mobile-money rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from enerlectra.ussd.types import Session


def own_country_number(session: Session, text: str) -> bool:
    try:
        return parse_msisdn(text.strip(), session.country).country == session.country
    except (InvalidMsisdn, UnsupportedCountry):
        return False


def remember_wallet(session: Session, text: str) -> None:
    session.data["wallet"] = parse_msisdn(text.strip(), session.country).e164
