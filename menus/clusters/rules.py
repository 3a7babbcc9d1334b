"""Cluster rules: pure functions of (session, text). What a key means on the cluster menu depends on
whether the user is a member (the menu screen notes it in session.data)."""
from __future__ import annotations

from enerlectra.domain.clusters.members import KINDS
from enerlectra.domain.clusters.proposals import PAYS
from enerlectra.text.gsm7 import is_gsm7
from enerlectra.ussd.types import Session
from menus.wallet.rules import is_amount, looks_like_number, remember_amount, remember_number  # noqa: F401

PROPOSAL_KINDS = ("equipment", "spend", "target", "remove")


def guest(key: str):
    def rule(session: Session, text: str) -> bool:
        return not session.data.get("member") and text.strip() == key
    rule.__name__ = f"guest_presses_{key}"
    return rule


def member(key: str):
    def rule(session: Session, text: str) -> bool:
        return bool(session.data.get("member")) and text.strip() == key
    rule.__name__ = f"member_presses_{key}"
    return rule


def confirms_paying(session: Session, text: str) -> bool:
    """`1` on a proposal that would pay from the pool: the PIN comes next (paying is a money action)."""
    return text.strip() == "1" and session.data.get("pkind") in PAYS


def confirms_other(session: Session, text: str) -> bool:
    return text.strip() == "1" and session.data.get("pkind") not in PAYS


def is_text(session: Session, text: str) -> bool:
    """A name, an area, an item: 2 to 40 printable GSM-7 characters with a letter in them (it is shown back
    on screens and in SMS, where one other character would halve the room)."""
    text = text.strip()
    return (2 <= len(text) <= 40 and any(ch.isalpha() for ch in text) and is_gsm7(text)
            and all(ch.isprintable() for ch in text))


def remember_name(session: Session, text: str) -> None:
    session.data["name"] = text.strip()


def remember_area(session: Session, text: str) -> None:
    session.data["area"] = text.strip()


def remember_title(session: Session, text: str) -> None:
    session.data["title"] = text.strip()


def picks_kind(session: Session, text: str) -> bool:
    return text.strip() in {str(i) for i in range(1, len(KINDS) + 1)}


def remember_kind(session: Session, text: str) -> None:
    session.data["kind"] = KINDS[int(text.strip()) - 1]


def picks_1_or_2(session: Session, text: str) -> bool:
    return text.strip() in ("1", "2")


def remember_open(session: Session, text: str) -> None:
    session.data["open"] = text.strip() == "1"


def is_code(session: Session, text: str) -> bool:
    text = text.strip()
    return 4 <= len(text) <= 8 and text.isascii() and text.isalnum()


def remember_code(session: Session, text: str) -> None:
    session.data["code"] = text.strip().upper()


def remember_target(session: Session, text: str) -> None:
    remember_amount(session, text)
    session.data["target"] = session.data.pop("amount")


def picks_proposal(session: Session, text: str) -> bool:
    return text.strip() in {str(i) for i in range(1, len(session.data.get("open_ids", [])) + 1)}


def remember_proposal(session: Session, text: str) -> None:
    session.data["proposal_id"] = session.data["open_ids"][int(text.strip()) - 1]


def remember_choice(session: Session, text: str) -> None:
    session.data["choice"] = "yes" if text.strip() == "1" else "no"


def remember_proposal_kind(session: Session, text: str) -> None:
    session.data["pkind"] = PROPOSAL_KINDS[int(text.strip()) - 1]


def picks_kind_of(*kinds: str):
    """Pressing the number of one of these kinds on the proposal-kind screen (1 equipment ... 4 remove)."""
    indexes = {str(PROPOSAL_KINDS.index(k) + 1) for k in kinds}

    def rule(session: Session, text: str) -> bool:
        return text.strip() in indexes
    rule.__name__ = f"picks_{'_'.join(kinds)}"
    return rule
