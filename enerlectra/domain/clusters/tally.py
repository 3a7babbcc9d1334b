"""The vote rules, as a pure function of the counts.

One member, one vote; who may vote is fixed when the proposal opens (`eligible`). A proposal passes with
more yes than no (a tie fails) once at least `quorum` members have voted. It is decided early when a
majority of all eligible members has voted one way: more than half yes passes it, half or more no rejects
it (yes can then never exceed no). At the deadline: under quorum it expires; otherwise yes > no passes it.
"""
from __future__ import annotations

QUORUM_SHARE = (1, 2)          # half of the members must vote (rounded up)


def quorum_for(eligible: int, share: tuple[int, int] = QUORUM_SHARE) -> int:
    num, den = share
    return max(1, -(-eligible * num // den))


def decide(eligible: int, quorum: int, yes: int, no: int, deadline_passed: bool) -> str | None:
    """passed / rejected / expired, or None while it is still open."""
    if 2 * yes > eligible:
        return "passed"
    if 2 * no >= eligible:
        return "rejected"
    if not deadline_passed:
        return None
    if yes + no < quorum:
        return "expired"
    return "passed" if yes > no else "rejected"
