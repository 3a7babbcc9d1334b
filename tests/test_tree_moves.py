"""The engine moves through MenuTree.move's flat table; the `transitions` machine defines the tree (lint, the
graph). The two agree on every state of the installed tree, for every input in the table and any typed text:
the state reached, whether a move happened, what the action stored, and what raised."""
from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from enerlectra.ussd.types import Session
from ussd_app.menu_tree import TREE

INPUTS = ["", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "00", "98", "99", "10", "1.50", "2", "0.5",
          "-1", "4826", "1234", "abc", "Yes", "+260971000001", "0971000001", "9" * 30, " 1 ", "1*2"]
# Data a journey's conditions read: absent, and filled in the shapes the screens leave.
DATA = [{}, {"kwh": "2", "price": "1.50", "amount": 500, "to": "+260971000001", "pick": {"1": 7, "2": 8},
             "picks": ["7", "8"], "page": 0}]


def _session(state: str, data: dict) -> Session:
    return Session(id="t", msisdn="+260971000001", country="ZM", state=state, lang="en", user_id=1, name="A",
                   data=copy.deepcopy(data))


def _outcome(move, state: str, data: dict, text: str):
    session = _session(state, data)
    try:
        moved = move(session, text)
    except Exception as exc:          # a condition that raises on data it lacks: both must raise it
        return ("raised", type(exc).__name__, session.state)
    return (moved, session.state, session.data)


def test_every_state_and_input_of_the_table_moves_as_the_machine_does():
    compared = 0
    for state in TREE.states:
        for data in DATA:
            for text in INPUTS:
                assert (_outcome(TREE.move, state, data, text)
                        == _outcome(TREE.machine_move, state, data, text)), (state, data, text)
                compared += 1
    assert compared == len(TREE.states) * len(DATA) * len(INPUTS)


# Screens whose moves pick from what their renderer listed (data of their own shape): no input of the table moves.
PICKS_FROM_ITS_LIST = {"clusters_proposals", "trade_myorders"}


def test_the_table_moves_from_every_state_that_reads_input():
    """The agreement above is worth something only if the table moves: from each state reading input, some
    input of the table moves (but the pick lists)."""
    unmoved = {state for state in TREE.reads_input
               if not any(_outcome(TREE.move, state, data, text)[0] is True for data in DATA for text in INPUTS)}
    assert unmoved == PICKS_FROM_ITS_LIST


@settings(max_examples=300, deadline=None)
@given(state=st.sampled_from(sorted(TREE.states)), text=st.text(max_size=12), filled=st.booleans())
def test_any_typed_text_moves_as_the_machine_does(state, text, filled):
    data = DATA[1] if filled else DATA[0]
    assert _outcome(TREE.move, state, data, text) == _outcome(TREE.machine_move, state, data, text)
