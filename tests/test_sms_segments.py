"""SMS segmentation: protocols.md section 3 as a table, and a round-trip property."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enerlectra.text.gsm7 import BASIC, EXTENSION, PART_GSM, PART_UCS2, is_gsm7, segment, septets, utf16_units


@pytest.mark.parametrize("text,encoding,sizes", [
    ("a" * 160, "GSM-7", [160]),                    # one SMS holds 160 septets
    ("a" * 161, "GSM-7", [153, 8]),                 # concatenated: 153 per part
    ("a" * 306, "GSM-7", [153, 153]),
    ("a" * 307, "GSM-7", [153, 153, 1]),
    ("€" * 80, "GSM-7", [160]),                     # extension characters cost 2 septets
    ("€" * 81, "GSM-7", [152, 10]),                 # 76 euros fill 152; a 77th would split an escape pair
    ("a" * 152 + "€" + "b" * 10, "GSM-7", [152, 12]),  # the € moves whole to the next part
    ("ë" * 70, "UCS-2", [70]),                      # one non-GSM character: UCS-2, 70 per SMS
    ("ë" * 71, "UCS-2", [67, 4]),                   # 67 per part
    ("a" * 66 + "😀" + "b" * 5, "UCS-2", [66, 7]),   # an emoji (surrogate pair) is never split
    ("", "GSM-7", [0]),
])
def test_segments(text, encoding, sizes):
    seg = segment(text)
    assert seg.encoding == encoding
    measure = septets if encoding == "GSM-7" else utf16_units
    assert [measure(p) for p in seg.parts] == sizes
    assert "".join(seg.parts) == text


GSM = st.text(alphabet=sorted(BASIC | EXTENSION), max_size=700)
ANY = st.text(max_size=400)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(GSM, ANY))
def test_segmentation_round_trips_and_never_overflows(text):
    seg = segment(text)
    assert "".join(seg.parts) == text
    gsm = is_gsm7(text)
    assert seg.encoding == ("GSM-7" if gsm else "UCS-2")
    measure, single, part = (septets, 160, PART_GSM) if gsm else (utf16_units, 70, PART_UCS2)
    if seg.count == 1:
        assert measure(text) <= single
    else:
        assert all(0 < measure(p) <= part for p in seg.parts)
        assert measure(text) > single
