"""GSM 03.38 counting, table-tested against protocols.md section 3."""
import pytest

from enerlectra.text.gsm7 import is_gsm7, non_gsm7, screen_cost, septets, utf16_units

CASES = [
    # text, GSM-7?, septets or UTF-16 units, encoding
    ("Hello", True, 5, "GSM-7"),
    ("", True, 0, "GSM-7"),
    ("@£$¥èéùìòÇ", True, 10, "GSM-7"),
    ("ç", True, 1, "GSM-7"),                      # 0x09: Ç in 3GPP, ç in Unicode's table
    ("ÄÖÑÜ§¿äöñüà", True, 11, "GSM-7"),
    ("ΔΦΓΛΩΠΨΣΘΞ", True, 10, "GSM-7"),
    ("€", True, 2, "GSM-7"),                      # extension table: ESC + char
    ("[1]{2}~|\\^", True, 18, "GSM-7"),     # 8 extension characters + 2 digits
    ("line\nbreak", True, 10, "GSM-7"),
    ("ë", False, 1, "UCS-2"),                    # not in either table
    ("Zoë 😀", False, 6, "UCS-2"),               # emoji take 2 UTF-16 units
    ("`", False, 1, "UCS-2"),                    # backtick is not GSM-7
]


@pytest.mark.parametrize("text,gsm,units,encoding", CASES)
def test_counting(text, gsm, units, encoding):
    assert is_gsm7(text) is gsm
    cost = screen_cost(text)
    assert cost.encoding == encoding
    assert cost.units == units
    assert (septets(text) if gsm else utf16_units(text)) == units


def test_budget_limits():
    assert screen_cost("a" * 160).fits and not screen_cost("a" * 161).fits
    assert screen_cost("€" * 80).fits and not screen_cost("€" * 81).fits
    assert screen_cost("ë" * 80).fits and not screen_cost("ë" * 81).fits    # UCS-2 halves the budget


def test_non_gsm7_lists_offenders_once_in_order():
    assert non_gsm7("Zoë and Zoë `") == ["ë", "`"]
