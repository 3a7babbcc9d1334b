"""Numbers, names and PINs: tables of what is accepted and what is refused."""
from __future__ import annotations

import pytest

from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn
from enerlectra.domain.pin_code import hash_pin, is_valid_pin, pin_key, verify_entry, verify_password
from enerlectra.domain.users import clean_name


@pytest.mark.parametrize("raw,e164,country,currency,lang", [
    ("+260971234567", "+260971234567", "ZM", "ZMW", "en"),     # Airtel
    ("260961234567", "+260961234567", "ZM", "ZMW", "en"),      # MTN, no '+'
    ("+260 95 123 4567", "+260951234567", "ZM", "ZMW", "en"),  # Zamtel, spaced
    ("+255712345678", "+255712345678", "TZ", "TZS", "sw"),     # Vodacom
    ("+255621234567", "+255621234567", "TZ", "TZS", "sw"),     # Halotel
])
def test_served_numbers(raw, e164, country, currency, lang):
    n = parse_msisdn(raw)
    assert (n.e164, n.country, n.currency, n.default_language) == (e164, country, currency, lang)


@pytest.mark.parametrize("raw,error", [
    ("", InvalidMsisdn), ("hello", InvalidMsisdn), ("+26097", InvalidMsisdn), ("+2609712345678", InvalidMsisdn),
    ("+254711082000", UnsupportedCountry), ("+14155550100", UnsupportedCountry),
])
def test_refused_numbers(raw, error):
    with pytest.raises(error):
        parse_msisdn(raw)


@pytest.mark.parametrize("raw,clean", [
    ("Bwalya", "Bwalya"), ("  Mwape   Banda ", "Mwape Banda"), ("N'gandu", "N'gandu"), ("Ñuñez-Lé", "Ñuñez-Lé"),
    ("Łukasz", None), ("B", None), ("x" * 21, None), ("x" * 20, "x" * 20), ("1234", None),
    ("Bwalya2", None), ("Zoë", None), ("-Bob", None), ("", None), ("Dr. Phiri", "Dr. Phiri"),
])
def test_names(raw, clean):
    assert clean_name(raw) == clean


@pytest.mark.parametrize("pin,ok", [
    ("4826", True), ("0479", True), ("1111", False), ("1234", False), ("4321", False), ("482", False),
    ("48260", False), ("48a6", False), ("４８２６", False), ("", False),
])
def test_pin_rules(pin, ok):
    assert is_valid_pin(pin) is ok


@pytest.mark.parametrize("sealed,verify", [(True, verify_entry), (False, verify_password)])
def test_pin_hash_verifies_only_the_same_pin_and_carries_its_cost(sealed, verify):
    stored = hash_pin("4826", cost=1024, key=pin_key() if sealed else None)
    assert stored.startswith("scrypt-k1$1024$8$1$" if sealed else "scrypt$1024$8$1$")
    assert verify("4826", stored) and not verify("4827", stored)
    assert hash_pin("4826", cost=1024, key=pin_key() if sealed else None) != stored, "salted"
    assert not verify("4826", "garbage") and not verify("4826", "md5$x$y$z$a$b")


