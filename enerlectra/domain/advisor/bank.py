"""The offline answer bank: short curated answers per topic, in every language, picked by keywords.

It answers when no ANTHROPIC_API_KEY is set (the embedded default). A common question from the menu
gets its own answer; free text gets the entry whose keywords (English and the user's language, from
the catalogs: msgctxt "advisor keywords") match most words; no match gets the topic's general answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from babel.support import LazyProxy

from enerlectra import i18n
from enerlectra.domain.advisor import topics
from enerlectra.i18n import lazy_gettext, pgettext_noop

KEYWORDS_CONTEXT = "advisor keywords"


@dataclass(frozen=True)
class Entry:
    topic: str
    keywords: str                 # English words; their translations are aliases
    answer: LazyProxy
    common: int | None = None     # the topic's common question (0-2) this answers; None: the general answer


BANK: tuple[Entry, ...] = (
    Entry("energy", pgettext_noop("advisor keywords", "store storage night battery batteries evening dark"),
          lazy_gettext("To use solar power at night, store it in a battery sized for your evening use. Charge it in "
                       "the day, keep it cool and dry, and do not drain it below half."), common=0),
    Entry("energy", pgettext_noop("advisor keywords", "less save saving bill reduce efficient bulb"),
          lazy_gettext("Use LED bulbs, switch off what you do not use, and run big loads like irons and pumps at "
                       "midday when the sun is strong. Keep the fridge closed and in a cool spot."), common=1),
    Entry("energy", pgettext_noop("advisor keywords", "panel panels clean dust care shade"),
          lazy_gettext("Wipe the panels with clean water and a soft cloth when dusty, early in the morning. Keep "
                       "them out of shade and check cables and mounting each month."), common=2),
    Entry("energy", pgettext_noop("advisor keywords", "solar power energy electricity"),
          lazy_gettext("Use solar power in the day for big loads, keep some in a battery for the night, and use LED "
                       "bulbs. Ask about batteries, saving power or panel care.")),
    Entry("trading", pgettext_noop("advisor keywords", "sell selling spare surplus extra"),
          lazy_gettext("Sell spare kWh when your battery is full and you will not need them tonight. Check the "
                       "market price first: a little below the best offer sells fast."), common=0),
    Entry("trading", pgettext_noop("advisor keywords", "buy buying cheap bargain"),
          lazy_gettext("Buy when the price is low, often at midday when neighbours have spare solar. Compare the "
                       "best offers and buy only what you need for the next days."), common=1),
    Entry("trading", pgettext_noop("advisor keywords", "work works offer trade trading"),
          lazy_gettext("You offer kWh at your price. They are held until a neighbour buys; then the money goes to "
                       "your wallet and the kWh to theirs. You can cancel an unsold offer."), common=2),
    Entry("trading", pgettext_noop("advisor keywords", "neighbour neighbours kwh credits"),
          lazy_gettext("Trade energy with neighbours: sell spare kWh when you have them and buy when prices are low. "
                       "Ask when to sell or how to buy well.")),
    Entry("market", pgettext_noop("advisor keywords", "up down rise fall trend future going"),
          lazy_gettext("Prices often fall at midday when solar is plentiful and rise in the evening and in cloudy "
                       "weeks. Nobody can promise the next price: trade only what you can spare."), common=0),
    Entry("market", pgettext_noop("advisor keywords", "fair price worth cost"),
          lazy_gettext("A fair price is close to the last trades in the market, and below what grid power or a "
                       "generator costs you per kWh, or buyers will not come."), common=1),
    Entry("market", pgettext_noop("advisor keywords", "why change changes evening midday"),
          lazy_gettext("Prices follow supply and demand. In the day many panels produce, so there is more to sell. "
                       "In the evening people need power and panels rest, so buyers pay more."), common=2),
    Entry("market", pgettext_noop("advisor keywords", "market prices price"),
          lazy_gettext("Energy prices move with sunshine and demand: low at midday, higher at night and in cloudy "
                       "weeks. Ask about trends or a fair price.")),
    Entry("carbon", pgettext_noop("advisor keywords", "co2 carbon emissions save saves"),
          lazy_gettext("Each kWh of solar used instead of a diesel generator saves about 0.7 kg of CO2. Using 1 kWh "
                       "a day from solar saves about 250 kg of CO2 a year."), common=0),
    Entry("carbon", pgettext_noop("advisor keywords", "smoke fuel charcoal kerosene cooking"),
          lazy_gettext("Replace kerosene lamps with solar LED lights, cook on an efficient stove and keep the "
                       "kitchen aired. Less charcoal and kerosene means cleaner air and money saved."), common=1),
    Entry("carbon", pgettext_noop("advisor keywords", "carbon credit credits offset certificate"),
          lazy_gettext("A carbon credit proves that one tonne of CO2 was not released. Groups of solar homes can "
                       "sometimes earn and sell them together through a registered project."), common=2),
    Entry("carbon", pgettext_noop("advisor keywords", "climate environment green pollution"),
          lazy_gettext("Solar power avoids the smoke and CO2 of diesel, charcoal and kerosene. Ask how much you save "
                       "or how to cut fuel use at home.")),
    Entry("support", pgettext_noop("advisor keywords", "pin forgot forgotten locked reset"),
          lazy_gettext("After 3 wrong PINs, money actions lock for 30 minutes, then you can try again. Change your "
                       "PIN under Settings. Never share your PIN, not even with us."), common=0),
    Entry("support", pgettext_noop("advisor keywords", "deposit add topup load wallet"),
          lazy_gettext("Dial *123#, choose Mobile money, then Deposit. Type the amount, confirm, and approve the "
                       "prompt on your phone. An SMS tells you when it is in your wallet."), common=1),
    Entry("support", pgettext_noop("advisor keywords", "arrive arrived missing late pending"),
          lazy_gettext("Deposits usually arrive within minutes. A pending one shows in Wallet, History. If it "
                       "failed, an SMS told you why and nothing was taken."), common=2),
    Entry("support", pgettext_noop("advisor keywords", "help menu account sms"),
          lazy_gettext("Dial *123# for the menu: Wallet, Mobile money, Settings and Ask the advisor. Send HELP by "
                       "SMS for the list of commands.")),
)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _keywords(entry: Entry, language: str) -> set[str]:
    return words(entry.keywords) | words(i18n.in_language(language, entry.keywords, KEYWORDS_CONTEXT))


def _score(entry: Entry, said: set[str], language: str) -> int:
    """Whole words count; a keyword of 4+ letters also matches longer words it starts (battery/batteries)."""
    keys = _keywords(entry, language)
    return sum(1 for w in said if w in keys or any(len(k) >= 4 and w.startswith(k) for k in keys))


def _common_text(entry: Entry, language: str) -> str:
    with i18n.language(language):          # the proxies translate afresh in the current language
        return str(topics.BY_KEY[entry.topic].common[entry.common])


def best(question: str, language: str, topic: str | None = None) -> tuple[Entry, int]:
    """The entry answering `question` and its score; within `topic` when given."""
    pool = [e for e in BANK if topic is None or e.topic == topic]
    normal = " ".join(sorted(words(question)))
    for entry in pool:
        if entry.common is not None and normal == " ".join(sorted(words(_common_text(entry, language)))):
            return entry, 100
    said = words(question)
    scored = max(((_score(e, said, language), -i, e) for i, e in enumerate(pool)), key=lambda t: t[:2])
    if scored[0] > 0:
        return scored[2], scored[0]
    general = next(e for e in pool if e.common is None and e.topic == (topic or topics.DEFAULT))
    return general, 0


# Ties between topics go to the narrower one: a question naming a price and kWh is about the market,
# one naming solar and CO2 is about carbon; energy (the broad topic) wins only on its own words.
TIE_ORDER = ("market", "trading", "carbon", "support", "energy")


def topic_scores(question: str, language: str) -> dict[str, float]:
    """Per topic, the question's words its keywords match; a word several topics share is split among them
    ("save" is half energy, half carbon), so shared words cannot outvote a word only one topic has."""
    keys = {t: set().union(*(_keywords(e, language) for e in BANK if e.topic == t)) for t in TIE_ORDER}
    scores = dict.fromkeys(TIE_ORDER, 0.0)
    for word in words(question):
        hits = [t for t, ks in keys.items()
                if word in ks or any(len(k) >= 4 and word.startswith(k) for k in ks)]
        for t in hits:
            scores[t] += 1 / len(hits)
    return scores


def guess_topic(question: str, language: str) -> tuple[str | None, float]:
    """The topic free text is about (None when no keyword matched), and its score."""
    scores = topic_scores(question, language)
    topic = max(TIE_ORDER, key=lambda t: (scores[t], -TIE_ORDER.index(t)))
    return (topic if scores[topic] else None), scores[topic]


def choose_topic(question: str, language: str, recent: str | None) -> str:
    """The topic to answer on. A follow-up (`recent`: the conversation's topic) stays on it unless the
    question names another topic more than it; a question naming none stays on it, or gets the default."""
    scores = topic_scores(question, language)
    guessed, best_score = guess_topic(question, language)
    if guessed is None:
        return recent or topics.DEFAULT
    if recent is not None and scores.get(recent, 0.0) >= best_score:
        return recent
    return guessed


def answer(question: str, language: str, topic: str) -> str:
    """The bank's answer, in `language`."""
    entry, _score_ = best(question, language, topic)
    with i18n.language(language):
        return str(entry.answer)
