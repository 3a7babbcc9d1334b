"""The request to the model: a system prompt per role and language, and the short conversation."""
from __future__ import annotations

from enerlectra import i18n
from enerlectra.domain.advisor.context import UserFacts
from enerlectra.domain.advisor.topics import BY_KEY

# Plain names the model knows: Bemba and Nyanja as spoken in Zambia.
LANGUAGE_NAMES = {"en": "English", "bem": "Bemba (Ichibemba)", "nya": "Nyanja (Chinyanja)",
                  "sw": "Swahili (Kiswahili)"}


def system_prompt(topic: str, language: str, facts: UserFacts, max_chars: int) -> str:
    role = BY_KEY[topic].role
    return "\n".join([
        f"You are Enerlectra's {role}.",
        "Enerlectra lets people in Zambia and Tanzania trade solar energy with neighbours, keep a wallet, "
        "pool money in community energy clusters and pay with mobile money, all from a basic phone.",
        f"Answer in {LANGUAGE_NAMES.get(language, LANGUAGE_NAMES[i18n.DEFAULT_LANGUAGE])}.",
        f"Your answer is sent as an SMS to a feature phone: plain text, at most {max_chars} characters, "
        "two to four short sentences, no markdown, no lists, no emoji, no links.",
        "When the question is about a price, selling or buying, quote the live market below (best "
        "offer, best bid, last trade, in the user's currency) before any advice.",
        "Be practical and specific to the facts below. Never ask for or repeat a PIN. If you are not sure, "
        "say so and suggest dialling *123# or sending HELP.",
        "What we know about this user:",
        *facts.lines(),
    ])


def conversation(earlier: list[tuple[str, str]], question: str) -> list[dict]:
    """Earlier (question, answer) turns, oldest first, then the new question."""
    messages: list[dict] = []
    for asked, answered in earlier:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return messages + [{"role": "user", "content": question}]
