"""Pagination within the 160-septet budget: tables for the shapes, a property for everything else."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enerlectra import i18n
from enerlectra.text.gsm7 import BASIC, EXTENSION, screen_units
from enerlectra.ussd.budget import paginate
from enerlectra.ussd.types import Nav, Screen


@pytest.mark.parametrize("nav,footer", [(Nav.FULL, "0 Back 00 Home"), (Nav.BACK, "0 Back"), (Nav.NONE, None)])
def test_short_screen_is_one_page_with_its_footer(nav, footer):
    pages = paginate(Screen(["Settings"], [("1", "Language")]), nav)
    assert len(pages) == 1 and not pages[0].has_more
    lines = pages[0].text.split("\n")
    assert lines[:2] == ["Settings", "1 Language"]
    assert (lines[2] if footer else None) == footer and len(lines) == (3 if footer else 2)


def test_end_screen_has_no_footer():
    assert paginate(Screen(["Done."], end=True), Nav.FULL)[0].text == "Done."


def test_header_lines_sit_on_top_of_every_page():
    screen = Screen(["Pick:"], [(str(n), "x" * 30) for n in range(1, 13)])
    pages = paginate(screen, Nav.FULL, ["Type 1 to 12."])
    assert len(pages) > 1
    assert all(p.text.startswith("Type 1 to 12.\n") for p in pages)
    assert all("98 More" in p.text for p in pages[:-1]) and "98 More" not in pages[-1].text


def test_long_text_is_cut_between_words_and_end_comes_last():
    words = " ".join(f"word{n}" for n in range(80))
    pages = paginate(Screen([words], end=True), Nav.FULL)
    assert len(pages) > 2
    rebuilt = " ".join(p.text.split("\n")[0] for p in pages)
    assert rebuilt == words
    assert all("98 More" in p.text for p in pages[:-1])


GSM_TEXT = st.text(alphabet=sorted((BASIC | EXTENSION) - {"\x1b", "\n", "\r"}), max_size=200)


@settings(max_examples=300, deadline=None)
@given(body=st.lists(GSM_TEXT, max_size=4),
       options=st.lists(GSM_TEXT.filter(lambda s: s.strip() != ""), max_size=25),
       nav=st.sampled_from(list(Nav)), end=st.booleans(),
       hint=st.sampled_from(["", "Reply with a number from the list."]),
       lang=st.sampled_from(list(i18n.LANGUAGES)))
def test_every_page_fits_and_nothing_is_lost(body, options, nav, end, hint, lang):
    screen = Screen(body, [(str(n), label) for n, label in enumerate(options, start=1)], end=end)
    with i18n.language(lang):
        pages = paginate(screen, nav, [hint])
    assert pages and all(screen_units(p.text) <= 160 for p in pages)
    assert [p.has_more for p in pages] == [True] * (len(pages) - 1) + [False]
    shown = "".join(p.text for p in pages)
    for n in range(1, len(options) + 1):
        assert f"{n} " in shown      # every option's number appears on some page
