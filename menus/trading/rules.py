"""Trading rules: pure functions of (session, text)."""
from __future__ import annotations

from enerlectra.domain.market.rules import BadOrder, parse_kwh
from enerlectra.ussd.types import Session
from menus.wallet.rules import is_amount, remember_amount

EXPIRY_DAYS = {"1": 0, "2": 3, "3": 7}          # 0: until midnight tonight


def is_kwh(session: Session, text: str) -> bool:
    try:
        parse_kwh(text)
    except BadOrder as exc:
        return str(exc) == "lot"          # 0.05 kWh parses: the screen says it is not a whole lot
    return True


def remember_kwh(session: Session, text: str) -> None:
    try:
        session.data["wh"] = parse_kwh(text)
    except BadOrder:                      # finer than a Wh: still shown as "not a whole lot"
        session.data["wh"] = -1


def is_price(session: Session, text: str) -> bool:
    return is_amount(session, text)


def remember_price(session: Session, text: str) -> None:
    remember_amount(session, text)
    session.data["price"] = session.data.pop("amount")


def picks_expiry(session: Session, text: str) -> bool:
    return text.strip() in EXPIRY_DAYS


def remember_expiry(session: Session, text: str) -> None:
    session.data["days"] = EXPIRY_DAYS[text.strip()]


def pin_for_whole_quote(session: Session, text: str) -> bool:
    text = text.strip()
    return not session.data.get("partial") and len(text) == 4 and text.isascii() and text.isdigit()


def chooses_rest(session: Session, text: str) -> bool:
    return bool(session.data.get("partial")) and text.strip() in ("1", "2")


def remember_rest(session: Session, text: str) -> None:
    session.data["keep_rest"] = text.strip() == "2"


def picks_order(session: Session, text: str) -> bool:
    return text.strip() in {str(i) for i in range(1, len(session.data.get("orders", [])) + 1)}


def remember_order(session: Session, text: str) -> None:
    session.data["order_id"] = session.data["orders"][int(text.strip()) - 1]
