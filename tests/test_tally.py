"""The vote rules as a table: quorum met or not, ties, early decisions, the deadline."""
from __future__ import annotations

import pytest

from enerlectra.domain.clusters.lifecycle import advance
from enerlectra.domain.clusters.tally import decide, quorum_for


@pytest.mark.parametrize("eligible, quorum", [(1, 1), (2, 1), (3, 2), (10, 5), (11, 6), (100, 50), (0, 1)])
def test_quorum_is_half_the_members_rounded_up(eligible, quorum):
    assert quorum_for(eligible) == quorum


@pytest.mark.parametrize("eligible, yes, no, deadline_passed, outcome", [
    (10, 3, 1, False, None),            # open: no majority of members yet
    (10, 6, 0, False, "passed"),        # more than half of all members said yes: decided early
    (10, 5, 0, False, None),            # exactly half yes is not a majority of members
    (10, 0, 5, False, "rejected"),      # half said no: yes can never exceed no
    (10, 3, 1, True, "expired"),        # quorum 5 missed at the deadline
    (10, 4, 1, True, "passed"),         # 5 votes: quorum met
    (10, 3, 2, True, "passed"),         # quorum met, more yes than no
    (10, 3, 3, True, "rejected"),       # a tie fails
    (10, 2, 3, True, "rejected"),
    (1, 1, 0, False, "passed"),         # a one-member cluster decides alone
    (2, 1, 0, False, None),
    (2, 1, 0, True, "passed"),          # quorum 1
    (2, 0, 1, False, "rejected"),
    (3, 0, 0, True, "expired"),
    (100, 51, 0, False, "passed"),
    (100, 50, 49, False, None),
    (100, 50, 49, True, "passed"),
])
def test_tally(eligible, yes, no, deadline_passed, outcome):
    assert decide(eligible, quorum_for(eligible), yes, no, deadline_passed) == outcome


@pytest.mark.parametrize("state, to, after", [
    ("open", "passed", "passed"), ("open", "expired", "expired"), ("passed", "executed", "executed"),
    ("passed", "execution_failed", "execution_failed"), ("passed", "rejected", None), ("rejected", "passed", None),
    ("executed", "execution_failed", None), ("open", "executed", None),
])
def test_a_proposal_closes_once(state, to, after):
    assert advance(state, to) == after
