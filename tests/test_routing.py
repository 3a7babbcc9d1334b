"""Which provider carries a number's money, by direction: libphonenumber's carrier data, protocols.md
section 7's prefixes, and the order of preference in payments/routing.py."""
from __future__ import annotations

import pytest

from payments import routing
from payments.routing import Network

ALL = {"mtn", "airtel", "pawapay", "azampay"}


@pytest.mark.parametrize("msisdn,network,deposit,payout,wallet", [
    ("+260961234567", Network("ZM", "mtn"), "mtn", "mtn", "MTN MoMo"),
    ("+260761234567", Network("ZM", "mtn"), "mtn", "mtn", "MTN MoMo"),
    ("+260971234567", Network("ZM", "airtel"), "airtel", "airtel", "Airtel Money"),
    ("+260571234567", Network("ZM", "airtel"), "airtel", "airtel", "Airtel Money"),
    ("+260951234567", Network("ZM", "zamtel"), "pawapay", "pawapay", "Zamtel Kwacha"),
    ("+260981234567", Network("ZM", "beeline"), None, None, "mobile money"),
    ("+255754123456", Network("TZ", "vodacom"), "azampay", "pawapay", "M-Pesa"),
    ("+255712345678", Network("TZ", "yas"), "azampay", "pawapay", "Mixx by Yas"),
    ("+255652345678", Network("TZ", "yas"), "azampay", "pawapay", "Mixx by Yas"),
    ("+255622345678", Network("TZ", "halotel"), "azampay", "pawapay", "HaloPesa"),
    ("+255682345678", Network("TZ", "airtel"), "azampay", "pawapay", "Airtel Money"),
    ("+255732345678", Network("TZ", "ttcl"), None, None, "mobile money"),
    ("+254712345678", None, None, None, "mobile money"),              # Kenya: not a country we serve
    ("not a number", None, None, None, "mobile money"),
])
def test_routes_with_every_provider_configured(msisdn, network, deposit, payout, wallet):
    assert routing.network(msisdn) == network
    assert routing.choose(msisdn, "collection", ALL) == deposit
    assert routing.choose(msisdn, "payout", ALL) == payout
    assert routing.wallet_name(msisdn) == wallet


@pytest.mark.parametrize("configured,msisdn,direction,expected", [
    ({"pawapay"}, "+260961234567", "collection", "pawapay"),       # MTN's own API not configured: pawaPay
    ({"pawapay"}, "+255754123456", "collection", "pawapay"),       # AzamPay not configured
    ({"azampay"}, "+255754123456", "payout", None),                # AzamPay does not pay out here
    ({"mtn"}, "+260971234567", "collection", None),                # an Airtel number, only MTN wired
    (set(), "+260961234567", "collection", None),
])
def test_the_first_configured_provider_wins(configured, msisdn, direction, expected):
    assert routing.choose(msisdn, direction, configured) == expected


def test_every_prefix_in_protocols_md_agrees_with_libphonenumber():
    """The fallback table and the carrier data name the same network for every prefix both know."""
    for country, code in (("ZM", "260"), ("TZ", "255")):
        for prefix, name in routing.PREFIXES[country].items():
            found = routing.network(f"+{code}{prefix}1234567")
            assert found == Network(country, name), (prefix, found)


@pytest.mark.parametrize("amount,currency,ok", [(150000, "TZS", True), (150050, "TZS", False),
                                                (2550, "ZMW", True), (1, "ZMW", True)])
def test_whole_shillings_only_in_tanzania(amount, currency, ok):
    assert routing.payable(amount, currency) == ok


@pytest.mark.parametrize("needed,currency,amount", [
    (3_000_00, "TZS", 3_000_00),       # what is missing, as it is
    (2_999_01, "TZS", 3_000_00),       # rounded up to whole shillings: the wallet moves no cents
    (1, "TZS", 100_00),                # at least the least collection
    (99_00, "ZMW", 99_00),
    (5, "ZMW", 1_00),
    (12_34, "KES", 12_34),             # a currency with no rule: as it is
])
def test_a_top_up_covers_what_is_missing_in_what_the_wallet_moves(needed, currency, amount):
    got = routing.top_up_amount(needed, currency)
    assert got == amount and got >= needed and routing.payable(got, currency)
