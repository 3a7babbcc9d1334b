"""Which provider serves a mobile-money number, in which direction.

The network comes from libphonenumber's carrier data (the `phonenumbers` package), with the prefixes of
protocols.md section 7 when the data names none. A network lists its providers in order of preference for
each direction; the first one configured wins. Numbers port between networks, so this is a good first
guess, not a fact: the user may type another number they hold (the money menu's "Use another number").
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers

from payments.providers.base import COLLECTION, PAYOUT


@dataclass(frozen=True)
class Network:
    country: str        # ISO 3166: ZM / TZ
    name: str           # mtn, airtel, zamtel, beeline / vodacom, yas, airtel, halotel, ttcl


# Carrier names as libphonenumber spells them -> ours (Yas was Tigo and Zantel; Halotel is Viettel's).
CARRIERS = {"MTN": "mtn", "Airtel": "airtel", "ZAMTEL": "zamtel", "Zamtel": "zamtel",
            "Beeline Telecoms": "beeline", "Vodacom": "vodacom", "Yas": "yas", "Tigo": "yas", "Zantel": "yas",
            "Viettel": "halotel", "Halotel": "halotel", "Tanzania Telecom": "ttcl", "TTCL": "ttcl"}
# protocols.md section 7, by the two digits after the country code.
PREFIXES = {
    "ZM": {**dict.fromkeys(("95", "75", "55"), "zamtel"), **dict.fromkeys(("96", "76", "56"), "mtn"),
           **dict.fromkeys(("97", "77", "57"), "airtel"), **dict.fromkeys(("98", "78", "58"), "beeline")},
    "TZ": {**dict.fromkeys(("61", "62", "63"), "halotel"), **dict.fromkeys(("65", "67", "70", "71", "77"), "yas"),
           **dict.fromkeys(("60", "66", "68", "69", "78"), "airtel"),
           **dict.fromkeys(("72", "74", "75", "76", "79"), "vodacom"), "73": "ttcl"},
}
# Providers by network and direction, best first. Zambia: MTN and Airtel directly, Zamtel through pawaPay
# (also the fallback when a direct integration is not configured). Tanzania: deposits through AzamPay's
# checkout, payouts through pawaPay (AzamPay's disbursement needs a checksum key and field list we do not
# have: protocols.md section 9). Beeline and TTCL have no mobile money we reach.
PREFERENCE: dict[Network, dict[str, tuple[str, ...]]] = {
    Network("ZM", "mtn"): {COLLECTION: ("mtn", "pawapay"), PAYOUT: ("mtn", "pawapay")},
    Network("ZM", "airtel"): {COLLECTION: ("airtel", "pawapay"), PAYOUT: ("airtel", "pawapay")},
    Network("ZM", "zamtel"): {COLLECTION: ("pawapay",), PAYOUT: ("pawapay",)},
    **{Network("TZ", name): {COLLECTION: ("azampay", "pawapay"), PAYOUT: ("pawapay",)}
       for name in ("vodacom", "yas", "airtel", "halotel")},
}
# What the user calls the wallet on that network, whoever carries the money.
WALLET_NAMES = {Network("ZM", "mtn"): "MTN MoMo", Network("ZM", "airtel"): "Airtel Money",
                Network("ZM", "zamtel"): "Zamtel Kwacha", Network("TZ", "vodacom"): "M-Pesa",
                Network("TZ", "yas"): "Mixx by Yas", Network("TZ", "halotel"): "HaloPesa",
                Network("TZ", "airtel"): "Airtel Money"}
# Currencies whose mobile money moves whole units only (every Tanzanian network: whole shillings).
WHOLE_UNITS = {"TZS"}
# The least we ask a wallet to collect (minor units): a prompt for a few cents costs the user a fee-sized
# annoyance and the providers refuse tiny collections (AzamPay: TSh 100; the Zambian wallets: K1).
LEAST_COLLECTION = {"TZS": 100_00, "ZMW": 1_00}


@functools.lru_cache(maxsize=4096)
def network(msisdn: str) -> Network | None:
    """The network a number (E.164) belongs to, or None for a number of no country we serve."""
    try:
        number = phonenumbers.parse(msisdn)
    except phonenumbers.NumberParseException:
        return None
    country = phonenumbers.region_code_for_number(number)
    if country not in PREFIXES:
        return None
    # Imported here: the carrier tables are most of phonenumbers' import (about 80 ms of `serve`'s cold
    # start), and only a money screen asks; the first one pays it once, every later one finds it loaded.
    from phonenumbers import carrier

    name = CARRIERS.get(carrier.name_for_number(number, "en"))
    return Network(country, name or PREFIXES[country].get(str(number.national_number)[:2], "unknown"))


def choose(msisdn: str, direction: str, configured) -> str | None:
    """The first configured provider for this number's network and direction (None: not served)."""
    found = network(msisdn)
    for name in PREFERENCE.get(found, {}).get(direction, ()) if found else ():
        if name in configured:
            return name
    return None


def wallet_name(msisdn: str) -> str:
    found = network(msisdn)
    return WALLET_NAMES.get(found, "mobile money") if found else "mobile money"


def top_up_amount(needed: int, currency: str) -> int:
    """What to collect to cover `needed` (minor units): at least the least collection, rounded up to what the
    wallet can move (whole shillings in Tanzania)."""
    amount = max(needed, LEAST_COLLECTION.get(currency, 0))
    return -(-amount // 100) * 100 if currency in WHOLE_UNITS else amount


def payable(amount: int, currency: str) -> bool:
    """Can mobile money move this amount (minor units)? Whole shillings only in Tanzania."""
    return amount % 100 == 0 if currency in WHOLE_UNITS else True
