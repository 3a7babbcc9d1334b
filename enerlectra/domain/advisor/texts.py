"""What the advisor says around its answers (by SMS and on screens), in the current language."""
from __future__ import annotations

from enerlectra.domain.advisor.context import MarketNow
from enerlectra.domain.money import format_money
from enerlectra.i18n import _, ngettext

ANSWER_SEGMENTS = 3            # an answer is at most 3 SMS parts


def offline_word() -> str:
    """Ends every answer from the offline bank (one word: the user knows no model wrote it)."""
    return _("(offline)")


def apology_text() -> str:
    return _("Sorry, the Enerlectra advisor could not answer just now. Please ask again later. Your question "
             "was not counted.")


def limit_text(limit: int) -> str:
    return ngettext("You have asked {count} question today, the most the advisor answers in a day. Please ask "
                    "again tomorrow.",
                    "You have asked {count} questions today, the most the advisor answers in a day. Please ask "
                    "again tomorrow.", limit).format(count=limit)


def ask_usage() -> str:
    return _("To ask the advisor, send ASK and your question, like: ASK how do I store solar power at night")


def will_arrive() -> str:
    return _("Thank you. Your answer will arrive by SMS.")


def market_now_text(now: MarketNow) -> str:
    """The live book, first in a price answer: the user decides on today's numbers, not a general rule."""
    def price(minor: int | None) -> str:
        return format_money(minor, now.currency) if minor else "-"
    return _("Market now, per kWh: best offer {offer}, best bid {bid}, last trade {last}.").format(
        offer=price(now.best_offer), bid=price(now.best_bid), last=price(now.last_trade))
