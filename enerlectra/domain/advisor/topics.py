"""The five advisors the seeds name, in plain words for the menu, with three common questions each.

`role` is English on purpose: it is the model's instruction, not a screen (the answer's language is
set separately, see prompts.py). It follows "You are Enerlectra's", so it has no article.
"""
from __future__ import annotations

from dataclasses import dataclass

from babel.support import LazyProxy

from enerlectra.i18n import lazy_gettext


@dataclass(frozen=True)
class Topic:
    key: str
    title: LazyProxy
    role: str
    common: tuple[LazyProxy, LazyProxy, LazyProxy]
    quotes_market: bool = False        # its answers start with the live book (a price needs today's numbers)


TOPICS: tuple[Topic, ...] = (
    Topic("energy", lazy_gettext("Solar and power"),
          "energy advisor, giving practical advice on solar panels, batteries, saving electricity and using "
          "appliances wisely in a home or small business",
          (lazy_gettext("Store solar power for night?"), lazy_gettext("How to use less power?"),
           lazy_gettext("Care for my solar panel?"))),
    Topic("trading", lazy_gettext("Buying and selling energy"),
          "trading assistant, helping the user decide when and how to sell spare energy credits (kWh) to "
          "neighbours or buy them on the Enerlectra market",
          (lazy_gettext("Should I sell kWh now?"), lazy_gettext("How to buy at a good price?"),
           lazy_gettext("How does selling work?")), quotes_market=True),
    Topic("market", lazy_gettext("Market prices"),
          "market analyst, explaining energy prices, their trends and what moves them, without promising "
          "what a price will be",
          (lazy_gettext("Will kWh prices go up?"), lazy_gettext("A fair price for 1 kWh?"),
           lazy_gettext("Why do prices change?")), quotes_market=True),
    Topic("carbon", lazy_gettext("Carbon savings"),
          "carbon tracker, explaining the carbon dioxide and smoke a household avoids by using solar instead "
          "of diesel, charcoal or kerosene, with simple numbers",
          (lazy_gettext("How much CO2 does solar save?"), lazy_gettext("Less smoke and fuel at home?"),
           lazy_gettext("What is a carbon credit?"))),
    Topic("support", lazy_gettext("Help with Enerlectra"),
          "customer support agent, helping with the *123# menu (Wallet, Mobile money, Settings, Ask the "
          "advisor), the wallet, the PIN, mobile-money deposits and withdrawals, and SMS commands (HELP, BAL, "
          "LANG, ASK, STOP, START)",
          (lazy_gettext("I forgot my PIN"), lazy_gettext("How to deposit money?"),
           lazy_gettext("My deposit did not arrive"))),
)

BY_KEY = {t.key: t for t in TOPICS}
DEFAULT = "energy"
