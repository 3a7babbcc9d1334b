"""The two path rules (ussd_app/engine/paths.py), as properties: whatever the user types (a '*' inside an input,
a key typed twice, unicode), each hop yields exactly the input typed, and the path kept never holds the text."""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ussd_app.engine import paths

inputs = st.lists(st.text(alphabet="0123456789*#aé ", min_size=1, max_size=6), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_cumulative_text_yields_each_input_typed(typed):
    """Africa's Talking: the text is every input so far joined by '*'; the kept prefix tells the new one."""
    path = paths.opened(paths.CUMULATIVE, [])
    for n, expected in enumerate(typed, start=1):
        path, got = paths.advance(paths.CUMULATIVE, path, "*".join(typed[:n]))
        assert got == expected
        assert re.fullmatch(r"\d+:[0-9a-f]{32}", path)         # a length and a keyed digest, never the text


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_appended_input_is_the_input_and_the_path_changes_every_hop(typed):
    """The others: the latest input is the input (a repeated key is a new hop); the path moves on each time."""
    seen = {path := paths.opened(paths.APPENDED, [])}
    for expected in typed:
        path, got = paths.advance(paths.APPENDED, path, expected)
        assert got == expected
        assert path not in seen
        seen.add(path)


def test_a_dial_string_opens_the_same_path_as_its_parts_typed():
    for rule in (paths.CUMULATIVE, paths.APPENDED):
        path = paths.opened(rule, [])
        for n, part in enumerate(["4", "1"], start=1):
            path, _ = paths.advance(rule, path, "4*1"[:2 * n - 1] if rule == paths.CUMULATIVE else part)
        assert path == paths.opened(rule, ["4", "1"])
