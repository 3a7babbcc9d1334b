"""The offline answer bank: which answer a question gets, in each language (pure, no I/O)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enerlectra import i18n
from enerlectra.domain.advisor import bank, prompts, texts, topics
from enerlectra.domain.advisor.context import MarketNow, UserFacts
from enerlectra.domain.money import format_money
from enerlectra.text.gsm7 import is_gsm7, segment


@pytest.mark.parametrize("question, language, topic", [
    ("how do I store solar power at night", "en", "energy"),
    ("my batteries die in the evening", "en", "energy"),                 # "batteries" also by prefix
    ("should I sell my surplus now", "en", "trading"),
    ("is the price going up", "en", "market"),
    ("what is a carbon credit", "en", "carbon"),
    ("I forgot my PIN", "en", "support"),
    ("nimesahau pin yangu", "sw", "support"),
    ("bei ya soko leo", "sw", "market"),
    ("ndagulitsa bwanji kwh zowonjezera", "nya", "trading"),
    ("utsi wa makala kukhitchini", "nya", "carbon"),
    ("ukusunga amalaiti ubushiku", "bem", "energy"),
    ("tell me a story", "en", None),
])
def test_topic_guessed_from_keywords_in_the_users_language(question, language, topic):
    i18n.load_all()
    assert bank.guess_topic(question, language)[0] == topic


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_every_common_question_gets_its_own_answer_in_every_language(language):
    for topic in topics.TOPICS:
        for n, common in enumerate(topic.common):
            with i18n.language(language):
                asked = str(common)
            entry, _score = bank.best(asked, language, topic.key)
            assert (entry.topic, entry.common) == (topic.key, n), (language, asked)


def test_every_topic_has_a_general_answer():
    for topic in topics.TOPICS:
        entry, score = bank.best("nothing that matches", "en", topic.key)
        assert (entry.topic, entry.common, score) == (topic.key, None, 0)


# Price and selling questions as users type them, in every language: a price goes to the market (it quotes
# the live book), selling to trading, a shared word ("save", "umeme") never outvotes a topic's own word.
@pytest.mark.parametrize("question, language, topic", [
    ("what is the price of energy today", "en", "market"),
    ("how much does a kwh cost", "en", "market"),
    ("what price should I sell at", "en", "market"),
    ("can I save money if I sell at a good price", "en", "market"),
    ("what is the market price", "en", "market"),
    ("when should I sell my kwh", "en", "trading"),
    ("how much co2 does 1 kwh of solar save", "en", "carbon"),
    ("my battery is dark at night", "en", "energy"),
    ("mutengo wa maketi lelo", "bem", "market"),
    ("imitengo ya kwh", "bem", "market"),
    ("ndefwaya ukushitisha kwh", "bem", "trading"),
    ("kaboni na co2", "bem", "carbon"),
    ("nalaba pin yandi", "bem", "support"),
    ("mtengo wa magetsi lero", "nya", "market"),
    ("mitengo ya msika", "nya", "market"),
    ("ndifuna kugulitsa kwh", "nya", "trading"),
    ("batire usiku", "nya", "energy"),
    ("bei ya umeme ni ngapi leo", "sw", "market"),
    ("bei ya kwh sokoni", "sw", "market"),
    ("nataka kuuza kwh zangu", "sw", "trading"),
    ("moshi wa mkaa jikoni", "sw", "carbon"),
])
def test_price_and_selling_questions_get_their_topic_in_every_language(question, language, topic):
    i18n.load_all()
    assert bank.guess_topic(question, language)[0] == topic


# A follow-up stays on its conversation's topic only while it names no other topic more.
@pytest.mark.parametrize("question, language, recent, topic", [
    ("what price should I sell at", "en", "carbon", "market"),          # was: stayed on carbon
    ("bei ya kwh sokoni", "sw", "carbon", "market"),
    ("ndifuna kugulitsa kwh", "nya", "energy", "trading"),
    ("and what about at night", "en", "energy", "energy"),             # names nothing: stays
    ("tell me more", "en", None, topics.DEFAULT),
    ("how much can I save", "en", "carbon", "carbon"),                 # "save" is carbon's too: stays
    ("how much can I save", "en", "trading", "carbon"),              # a tie goes to the narrower topic
])
def test_a_follow_up_changes_topic_when_the_question_names_another(question, language, recent, topic):
    i18n.load_all()
    assert bank.choose_topic(question, language, recent) == topic


@pytest.mark.parametrize("topic, first_line", [
    ("energy", "You are Enerlectra's energy advisor, giving practical advice"),
    ("trading", "You are Enerlectra's trading assistant, helping the user"),
    ("market", "You are Enerlectra's market analyst, explaining energy prices"),
    ("carbon", "You are Enerlectra's carbon tracker, explaining"),
    ("support", "You are Enerlectra's customer support agent, helping with the *123# menu"),
])
def test_the_system_prompt_names_the_role_in_plain_english(topic, first_line):
    facts = UserFacts("ZM", "ZMW", "K1.00", "1.0 kWh")
    line = prompts.system_prompt(topic, "en", facts, 400).splitlines()[0]
    assert line.startswith(first_line), line
    assert "'s a " not in line and "'s an " not in line


prices = st.one_of(st.none(), st.integers(min_value=1, max_value=10_000_000))


@given(language=st.sampled_from(list(i18n.LANGUAGES)), currency=st.sampled_from(["ZMW", "TZS"]),
       offer=prices, bid=prices, last=prices)
def test_the_market_line_quotes_every_price_of_the_book(language, currency, offer, bid, last):
    i18n.load_all()
    with i18n.language(language):
        line = texts.market_now_text(MarketNow(currency, offer, bid, last))
    for price in (offer, bid, last):
        assert (format_money(price, currency) if price else " -") in line
    assert line.count(" -") >= sum(p is None for p in (offer, bid, last))
    assert is_gsm7(line) and segment(line).count == 1, line
