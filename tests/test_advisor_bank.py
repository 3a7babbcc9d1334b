"""The offline answer bank: which answer a question gets, in each language (pure, no I/O)."""
from __future__ import annotations

import pytest

from ussd_app import i18n
from ussd_app.domain.advisor import bank, topics


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
