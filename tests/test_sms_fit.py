"""Model answers made fit for SMS: tables of what a model writes, and properties over any text."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enerlectra.text.fit import budget, fit, plain, to_gsm7
from enerlectra.text.gsm7 import is_gsm7, segment, septets


@pytest.mark.parametrize("written, sent", [
    ("**Good question!** Here\u2019s how", "Good question! Here's how"),
    ("Use a *deep-cycle* battery \u2014 lithium lasts", "Use a deep-cycle battery - lithium lasts"),
    ("# Tips\n- Clean panels\n- Avoid shade", "Tips. Clean panels. Avoid shade"),
    ("1. Charge by day\n2. Use at night.", "Charge by day. Use at night."),
    ("See [our guide](https://example.com) \u2026", "See our guide ..."),
    ("\u201cUsiimalize\u201d betri \U0001F50B leo", '"Usiimalize" betri leo'),
    ("Costs \u20ac5 or \u00a35", "Costs \u20ac5 or \u00a35"),                   # GSM-7 has both: kept
    ("na\u00efve caf\u00e9 \u0161ilingi \u0175", "naive caf\u00e9 silingi w"),   # accents dropped unless GSM has them
    ("`code` and ```block```", "'code' and block"),
    ("1.2 kWh \u2248 ten bulbs, 25\u00b0C", "1.2 kWh ~ ten bulbs, 25 degC"),
])
def test_model_text_becomes_plain_gsm7(written, sent):
    assert plain(written) == sent
    assert is_gsm7(plain(written))


def test_long_answer_is_cut_at_the_last_whole_sentence():
    sentences = [f"Sentence number {n} says something useful about solar batteries." for n in range(20)]
    cut = fit(" ".join(sentences), 3)
    assert cut.endswith("batteries.") and septets(cut) <= budget(3)
    assert segment(cut).count == 3
    assert cut == " ".join(sentences[:len(cut.split(". "))])      # whole sentences, in order


def test_suffix_stays_whole_after_a_cut():
    cut = fit("word " * 300, 3, suffix="(offline)")
    assert cut.endswith("... (offline)") and segment(cut).count <= 3


def test_short_text_is_one_segment_and_unchanged():
    assert fit("Use LED bulbs.", 3, suffix="(offline)") == "Use LED bulbs. (offline)"


@given(st.text(max_size=2000), st.integers(min_value=1, max_value=4),
       st.sampled_from(["", "(offline)", "(bila mtandao)"]))
def test_any_text_fits_its_segments_in_gsm7(text, segments, suffix):
    out = fit(text, segments, suffix)
    assert is_gsm7(out)
    assert segment(out).count <= segments
    assert not suffix or out.endswith(suffix)


@given(st.text(max_size=500))
def test_transliteration_is_idempotent(text):
    once = to_gsm7(text)
    assert is_gsm7(once) and to_gsm7(once) == once
