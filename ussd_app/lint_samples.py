"""Every SMS text we send, rendered worst-case for `menus lint`: at most 2 segments unless stated.

The texts live with what sends them (the domain, payments, the SMS commands); this registry only samples
them with the longest values each can take.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from enerlectra.domain.account_texts import credit_text, meter_text, received_text, sent_text, welcome_text
from enerlectra.domain.advisor import bank
from enerlectra.domain.advisor import texts as advisor_texts
from enerlectra.domain.clusters import texts as cluster_texts
from enerlectra.domain.ledger import ENERGY
from enerlectra.domain.market import texts as market_texts
from enerlectra.domain.market.data import SaleQuote, Snapshot
from enerlectra.domain.meters import Receipt
from enerlectra.domain.pin_texts import (pin_changed_text, pin_lock_text, pin_reset_asked_text,
                                         pin_reset_done_text, pin_reset_issued_text)
from enerlectra.domain.rentals import asks as rental_asks
from enerlectra.domain.rentals.tariff import Tariff
from enerlectra.domain.rentals.texts import terms_text
from enerlectra.domain.rentals.views import RentalView
from enerlectra.reports.carbon import Factors, avoided
from payments.texts import payment_checking_text, payment_failed_text, payment_ok_text
from sms import flood, inbound
from sms.commands import bal
from sms.commands import carbon as carbon_cmd
from sms.commands import help as help_cmd
from sms.commands import lang
from sms.commands import market as market_cmd
from sms.commands import optout
from sms.commands import rentals as rent_cmd

LONGEST_NAME = "Mwansa Chilufya Bwal"        # NAME_MAX letters


@dataclass(frozen=True)
class _Payment:
    amount: int = 99_999_999_99
    currency: str = "TZS"
    reference: str = "0123456789abcdef"
    direction: str = "payout"
    purpose: str | None = None


# The largest rental a tariff allows (tariff.MOST_MINOR, whole shillings, a week's hours), the longest station name
_TARIFF = Tariff(currency="TZS", deposit=99_999_900, per_hour=99_999_900, free_minutes=120, daily_cap=99_999_900,
                 grace_minutes=120, late_per_hour=99_999_900, device_price=99_999_900, max_extension_hours=168,
                 hours=168)
_STATION = "Kariakoo Market Stall Nine"
_RENTAL = RentalView(ref="R-9999999", state="active", station_code="123456", station_name=_STATION, slot=99,
                     bank_serial="PB12345678", currency="TZS", deposit=99_999_900, started_at=None,
                     due_at=datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc), minutes_used=9_999 * 60 + 59,
                     cost_so_far=99_999_900, eject_state="ok")


@dataclass(frozen=True)
class _Sample:
    """A worst-case user for rendering templates in lint."""

    name: str = LONGEST_NAME
    msisdn: str = "+255712345678"
    currency: str = "TZS"
    country: str = "TZ"


@dataclass(frozen=True)
class _Trade:
    """Worst-case market values: the top TZS price, a large amount, a long reference."""

    id: int = 9_999_999
    currency: str = "TZS"
    price: int = 200_000
    wh: int = 99_999_900
    money: int = 19_999_980_000
    fee: int = 199_999_800


@dataclass(frozen=True)
class _Order:
    id: int = 9_999_999
    currency: str = "TZS"
    side: str = "sell"
    price: int = 200_000
    wh: int = 99_999_900
    remaining_wh: int = 99_999_900


@dataclass(frozen=True)
class _Alert:
    currency: str = "TZS"
    below: int = 199_900


@dataclass(frozen=True)
class _Cluster:
    name: str = "Kabwata Solar Sisters Cooperative Sociey"      # 40 characters
    code: str = "ZZZZZZZZ"
    currency: str = "TZS"
    target: int = 99_999_999_99
    carbon_baseline: str = "grid"


@dataclass(frozen=True)
class _Proposal:
    id: int = 9_999_999
    number: int = 9_999_999
    kind: str = "equipment"
    title: str = "2 batteries and a 5kW inverter from Lusaka and a long way to"[:60]
    amount: int = 99_999_999_99
    payee: str = "+255712345678"
    state: str = "rejected"
    yes: int = 999
    no: int = 999
    quorum: int = 500
    deadline: datetime = datetime(2026, 12, 31, 20, 59, tzinfo=timezone.utc)


_SNAPSHOT = Snapshot("TZS", ((199_800, 99_999_900), (199_900, 99_999_900), (200_000, 99_999_900)), 199_000,
                     200_000, 999_999_900, 1_000, 200_000)


@dataclass(frozen=True)
class Template:
    name: str
    render: Callable[[], str]          # in the current language, with worst-case values
    max_segments: int = 2


TEMPLATES: tuple[Template, ...] = (
    Template("welcome", lambda: welcome_text(LONGEST_NAME)),
    Template("help", help_cmd.help_text, max_segments=1),
    Template("help more", help_cmd.help_more_text, max_segments=1),
    Template("lang usage", lang.usage),
    Template("lang changed", lambda: lang.done("Chinyanja")),
    Template("stop", optout.stopped),
    Template("start", optout.started),
    Template("unknown command", inbound.unknown_text),
    Template("join first", inbound.join_first_text),
    Template("too many messages", flood.too_many_text),
    Template("receipt sent", lambda: sent_text(_Sample(), 99_999_999_99, 9_999_99, _Sample(), 9_999_999)),
    Template("receipt received", lambda: received_text(_Sample(), 99_999_999_99, _Sample(), 9_999_999)),
    Template("pin locked", lambda: pin_lock_text(_Sample(), datetime(2026, 11, 22, 23, 59, tzinfo=timezone.utc))),
    Template("pin changed", lambda: pin_changed_text(_Sample()), max_segments=1),
    Template("pin reset asked", lambda: pin_reset_asked_text(_Sample()), max_segments=1),
    Template("pin reset issued", lambda: pin_reset_issued_text(_Sample(), _Proposal.deadline), max_segments=1),
    Template("pin reset done", lambda: pin_reset_done_text(_Sample(), _Proposal.deadline), max_segments=1),
    Template("balance", lambda: bal.balance_text(99_999_999_99, "TZS", 99_999_999_999)),
    Template("deposit ok", lambda: payment_ok_text(_Sample(), _Payment(direction="collection"))),
    Template("rent top-up ok", lambda: payment_ok_text(_Sample(), _Payment(direction="collection",
                                                                           purpose="rent:123456"))),
    Template("payout ok", lambda: payment_ok_text(_Sample(), _Payment())),
    Template("deposit failed", lambda: payment_failed_text(_Sample(), _Payment(direction="collection"),
                                                           "SOMETHING_ELSE")),
    Template("payout failed", lambda: payment_failed_text(_Sample(), _Payment(), "SOMETHING_ELSE")),
    Template("deposit checking", lambda: payment_checking_text(_Sample(), _Payment(direction="collection"))),
    Template("payout checking", lambda: payment_checking_text(_Sample(), _Payment())),
    Template("advisor apology", advisor_texts.apology_text),
    Template("advisor limit", lambda: advisor_texts.limit_text(99)),
    Template("ask usage", advisor_texts.ask_usage),
    Template("market sold", lambda: market_texts.sold_text(_Sample(), [_Trade(price=1_000), _Trade()])),
    Template("market bought", lambda: market_texts.bought_text(_Sample(), [_Trade()])),
    Template("market alert", lambda: market_texts.alert_text(_Sample(), _Alert(), 200_000)),
    Template("market offer expired", lambda: market_texts.expired_text(_Sample(), _Order())),
    Template("market bid expired", lambda: market_texts.expired_text(_Sample(), _Order(side="buy"))),
    Template("market listed", lambda: market_texts.listed_text(_Sample(), _Order())),
    Template("market price", lambda: market_texts.price_sms(_SNAPSHOT)),
    Template("alert usage", lambda: market_texts.alert_usage("TZS")),
    Template("alert set", lambda: market_texts.alert_set(200_000, "TZS")),
    Template("sms trading off", market_texts.sms_trading_off),
    Template("sell usage", lambda: market_cmd.sell_usage("TZS")),
    Template("buy usage", market_cmd.buy_usage),
    Template("confirm sell", lambda: market_cmd.confirm_sell(SaleQuote(99_999_900, 200_000, 0, 0), "TZS")),
    Template("confirm sell to bids",
             lambda: market_cmd.confirm_sell(SaleQuote(99_999_900, 200_000, 99_999_800, 99_999_999_99), "TZS")),
    Template("confirm buy", lambda: market_cmd.confirm_buy(99_999_900, 99_999_999_99, "TZS", partial=False)),
    Template("confirm buy partly", lambda: market_cmd.confirm_buy(99_999_900, 99_999_999_99, "TZS", partial=True)),
    Template("no offers", market_cmd.no_offers),
    Template("nothing to confirm", market_cmd.nothing_to_confirm),
    Template("ballot", lambda: cluster_texts.ballot(_Proposal(), _Cluster(), _Sample())),
    Template("ballot admit",
             lambda: cluster_texts.ballot(_Proposal(kind="admit"), _Cluster(), _Sample(), LONGEST_NAME)),
    Template("result passed", lambda: cluster_texts.result(_Proposal(state="passed"), _Cluster())),
    Template("result rejected", lambda: cluster_texts.result(_Proposal(state="rejected"), _Cluster())),
    Template("result expired", lambda: cluster_texts.result(_Proposal(state="expired"), _Cluster())),
    Template("result target", lambda: cluster_texts.result(_Proposal(state="passed", kind="target"), _Cluster())),
    Template("result remove", lambda: cluster_texts.result(_Proposal(kind="remove"), _Cluster(), LONGEST_NAME)),
    Template("proposal paid", lambda: cluster_texts.paid(_Proposal(), _Cluster())),
    Template("proposal payout failed", lambda: cluster_texts.payout_failed(_Proposal(), _Cluster())),
    Template("cluster invitation", lambda: cluster_texts.invitation(_Cluster(), LONGEST_NAME)),
    Template("cluster welcome", lambda: cluster_texts.welcome(_Cluster())),
    Template("cluster summary", lambda: cluster_texts.summary(_Cluster(), 99_999_999_99, 999, 99_999_999_99)),
    Template("cluster summary kerosene", lambda: cluster_texts.summary(
        _Cluster(carbon_baseline="kerosene"), 99_999_999_99, 999, 99_999_999_99, 99_999_999_999_999)),
    Template("carbon", lambda: carbon_cmd.carbon_text(
        avoided(99_999_999_999, "kerosene", "TZ", Factors({}, {"kerosene": 9_999})),
        avoided(9_999_999_999, "kerosene", "TZ", Factors({}, {"kerosene": 9_999}))), max_segments=1),
    Template("cluster not member", lambda: cluster_texts.refusal("not_member")),
    Template("cluster unknown code", lambda: cluster_texts.refusal("unknown_code", "ZZZZZZZZ")),
    Template("put to a vote", lambda: cluster_texts.put_to_vote(_Cluster(), 9_999_999)),
    Template("vote counted", lambda: cluster_texts.vote_reply("recorded", 9_999_999, "yes", "31/12 23:59")),
    Template("vote decides", lambda: cluster_texts.vote_reply("recorded", 9_999_999, "yes", "", _Proposal(), True)),
    Template("vote changed decides",
             lambda: cluster_texts.vote_reply("changed", 9_999_999, "no", "", _Proposal(state="passed"), True)),
    Template("vote closed with result",
             lambda: cluster_texts.vote_reply("closed", 9_999_999, "no", "", _Proposal(state="expired"))),
    Template("cluster contribution", lambda: cluster_texts.contributed(_Cluster(), 99_999_999_99, 99_999_999_99,
                                                                       99_999_999_99)),
    Template("join usage", cluster_texts.join_usage),
    Template("vote changed", lambda: cluster_texts.vote_reply("changed", 9_999_999, "yes", "")),
    Template("vote closed", lambda: cluster_texts.vote_reply("closed", 9_999_999, "yes", "")),
    Template("vote not eligible", lambda: cluster_texts.vote_reply("not_eligible", 9_999_999, "yes", "")),
    Template("vote unknown", lambda: cluster_texts.vote_reply("unknown", 9_999_999, "yes", "")),
    Template("vote usage", cluster_texts.vote_usage),
    Template("operator credit", lambda: credit_text(_Sample(), 99_999_999_99, "TZS", 9_999_999)),
    Template("operator energy credit", lambda: credit_text(_Sample(), 99_999_999_999, ENERGY, 9_999_999)),
    Template("meter credit", lambda: meter_text(_Sample(), Receipt("M" * 40, 50_000, 99_999_900, 100_000,
                                                                   99_999_999_999))),
    Template("rent usage", rent_cmd.rent_usage, max_segments=1),
    Template("rent by ussd", lambda: rent_cmd.rent_by_ussd(terms_text(_TARIFF, _STATION), "123456", "*123*456#")),
    Template("rent refused short", lambda: rental_asks.refusal_text("short", "123456", 99_999_900, "TZS"),
             max_segments=1),
    Template("rent refused owed", lambda: rental_asks.refusal_text("owed", "123456", 99_999_900, "TZS", 99_999_900),
             max_segments=1),
    Template("rent refused wrong country", lambda: rental_asks.refusal_text("wrong_country", "123456", 0, "TZS"),
             max_segments=1),
    Template("my rental", lambda: rental_asks.rental_text(_RENTAL, "TZ"), max_segments=1),
    Template("no rental", rent_cmd.no_rental_text, max_segments=1),
) + tuple(   # the offline bank's answers go out whole, with the offline word, in at most 3 parts
    Template(f"advisor bank {entry.topic} {n}", lambda entry=entry: f"{entry.answer} {advisor_texts.offline_word()}",
             max_segments=advisor_texts.ANSWER_SEGMENTS)
    for n, entry in enumerate(bank.BANK))
