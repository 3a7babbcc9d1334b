"""Issue 16 item 6 as tables: HELP in one SMS naming every keyword (with HELP MORE), counts through ngettext,
the weak-PIN hint, price hints and amounts per currency (TZS in whole shillings)."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enerlectra import i18n
from enerlectra.domain import pin_texts
from enerlectra.domain.clusters import texts as cluster_texts
from enerlectra.domain.market import texts as market_texts
from enerlectra.domain.market.rules import MarketRules, parse_limits
from enerlectra.domain.money import format_money, parse_amount
from enerlectra.domain.pin_code import is_valid_pin
from enerlectra.text.gsm7 import segment
from sms.commands import COMMANDS
from sms.commands import help as help_cmd
from sms.commands.base import KEYWORD_CONTEXT
from tests.helpers import at_form, new_session_id

LANGS = list(i18n.LANGUAGES)


def _aliases(command) -> set[str]:
    return {command.keyword} | {i18n.in_language(code, command.keyword, KEYWORD_CONTEXT).upper() for code in LANGS}


@pytest.mark.parametrize("language", LANGS)
def test_help_and_help_more_each_fit_one_sms_and_name_every_keyword(language):
    with i18n.language(language):
        main, more = help_cmd.help_text(), help_cmd.help_more_text()
    assert segment(main).count == 1 and segment(more).count == 1, (main, more)
    words = set(re.findall(r"[A-Z]{2,}", main + " " + more))
    missing = [c.keyword for c in COMMANDS if not words & _aliases(c)]
    assert missing == [], f"{language}: HELP and HELP MORE do not name {missing}"
    more_word = i18n.in_language(language, help_cmd.MORE, KEYWORD_CONTEXT).upper()
    assert more_word in re.findall(r"[A-Z]{2,}", main.upper()), "HELP says how to ask for the rest, in its own language"


@pytest.mark.parametrize("language, one, two", [
    ("en", "Wrong PIN. 1 try left.", "Wrong PIN. 2 tries left."),
    ("bem", "Mwashalikwa umuku 1.", "Mwashalikwa imiku 2."),
    ("nya", "mwayi 1.", "mipata 2."),
    ("sw", "Imebaki nafasi 1.", "Zimebaki nafasi 2."),
])
def test_tries_left_agree_with_the_count(language, one, two):
    with i18n.language(language):
        assert one in pin_texts.tries_left(1) and two in pin_texts.tries_left(2)


class _Cluster:
    name, code, currency, target = "Kabwata", "K7Q2M", "ZMW", 100_00


@pytest.mark.parametrize("language, one, many", [
    ("en", "1 member,", "3 members,"), ("bem", "icilundwa 1,", "ifilundwa 3,"), ("nya", "membala 1,", "mamembala 3,"),
    ("sw", "mwanachama 1,", "wanachama 3,"),
])
def test_member_counts_agree_with_the_count(language, one, many):
    with i18n.language(language):
        assert one in cluster_texts.summary(_Cluster(), 0, 1, 0)
        assert many in cluster_texts.summary(_Cluster(), 0, 3, 0)


@pytest.mark.parametrize("language", LANGS)
def test_every_plural_and_lock_count_renders_in_every_language(language):
    from enerlectra.domain.advisor import texts as advisor_texts
    with i18n.language(language):
        for n in (1, 2, 5):
            for text in (pin_texts.tries_left(n), pin_texts.locked_after(n, "18:00"),
                         advisor_texts.limit_text(n), cluster_texts.summary(_Cluster(), 0, n, 0)):
                assert str(n) in text and "{" not in text
    if language == "en":
        assert "1 time." in pin_texts.locked_after(1, "18:00") and "1 question " in advisor_texts.limit_text(1)


WEAK = ["1234", "4321", "0123", "9876", "1212", "2580", "1111", "0000", "7777"]


@pytest.mark.parametrize("pin", WEAK)
async def test_a_weak_pin_is_refused_saying_why_in_general(client, pin):
    assert not is_valid_pin(pin)
    sid, msisdn = new_session_id(), "+260971800001"
    for text in ["", "1", "1*Mapalo"]:
        await client.post("/ussd/africastalking", data=at_form(sid, text, msisdn))
    screen = await (await client.post("/ussd/africastalking", data=at_form(sid, f"1*Mapalo*{pin}", msisdn))).text()
    assert "hard to guess, not a pattern like 1234, 1111 or 2580" in screen, screen
    assert "not 1234 or 1111" not in screen


@pytest.mark.parametrize("msisdn, example", [("+260971800002", "like 1.20."), ("+255712800003", "like 500.")])
async def test_the_price_hint_gives_a_price_the_market_takes_in_the_users_currency(client, msisdn, example):
    sid = new_session_id()
    lang = "1"
    steps = ["", lang, f"{lang}*Mapalo", f"{lang}*Mapalo*4826", f"{lang}*Mapalo*4826*4826"]
    for text in steps:
        await client.post("/ussd/africastalking", data=at_form(sid, text, msisdn))
    sid = new_session_id()
    for text in ["", "5", "5*5"]:                                   # Trade energy -> price alert
        await client.post("/ussd/africastalking", data=at_form(sid, text, msisdn))
    screen = await (await client.post("/ussd/africastalking", data=at_form(sid, "5*5*cheap", msisdn))).text()
    assert example in screen, screen


@given(lot=st.sampled_from([10, 100, 250, 1000]), currency=st.sampled_from(["ZMW", "TZS"]),
       limits=st.sampled_from(["ZMW=10..5000,TZS=1000..200000", "ZMW=200..300,TZS=100000..100000"]))
def test_the_example_price_is_always_one_the_market_takes(lot, currency, limits):
    rules = MarketRules(lot_wh=lot, limits=parse_limits(limits))
    example = market_texts.example_price(rules, currency)
    rules.check_price(currency, parse_amount(example, currency))     # raises BadOrder if refused
    with i18n.language("en"):
        assert f"like {example}." in market_texts.price_hint(currency, rules)


@pytest.mark.parametrize("currency, minor, shown", [
    ("TZS", 150000, "TSh 1,500"), ("TZS", 100, "TSh 1"), ("TZS", 150050, "TSh 1,500.50"), ("ZMW", 150000, "K1,500.00"),
])
def test_amounts_in_whole_shillings_unless_there_is_a_fraction(currency, minor, shown):
    assert format_money(minor, currency) == shown
