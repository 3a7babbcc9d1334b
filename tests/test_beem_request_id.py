"""Beem's request_id is ours: a call nonce on `initiate`, then + 1 a hop, within what we accept back."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ussd_app.aggregators.beem import HOPS_PER_NONCE, MAX_REQUEST_ID, next_request_id


@given(st.sampled_from(["initiate", "continue"]), st.integers(0, MAX_REQUEST_ID))
def test_the_request_id_we_send_is_one_beem_may_send_back(command, received):
    assert 0 <= next_request_id(command, received) <= MAX_REQUEST_ID


@pytest.mark.parametrize("received,sent", [(0, 1), (41, 42), (7_000_001, 7_000_002), (MAX_REQUEST_ID, 0)])
def test_a_continue_is_answered_with_the_next_number(received, sent):
    assert next_request_id("continue", received) == sent


def test_each_initiate_starts_a_call_of_its_own():
    nonces = {next_request_id("initiate", 0) for _ in range(50)}
    assert len(nonces) > 45                                       # random: two calls almost never share one
    assert all(n % HOPS_PER_NONCE == 1 for n in nonces)           # hop 1 of its call
