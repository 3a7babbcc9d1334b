"""Market rules from configuration: lot size, price tick, price limits per market, fee rate.

MARKET_LOT_WH (100): every quantity is a whole number of lots. The price tick follows from it, so that
price x quantity is always a whole minor unit: tick = 1000 / gcd(1000, lot) minor units per kWh
(100 Wh lots -> K0.10 steps; 1 kWh lots -> 1 ngwee steps).
MARKET_PRICE_LIMITS ("ZMW=10..5000,TZS=1000..200000"): least and most price per kWh, minor units.
MARKET_FEE_BPS (100 = 1%): the buyer's fee on each fill, rounded down.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from math import gcd

DEFAULT_LIMITS = "ZMW=10..5000,TZS=1000..200000"


class BadOrder(ValueError):
    """An amount or a price the market does not take; the message says which rule."""


@dataclass(frozen=True)
class MarketRules:
    lot_wh: int = 100
    limits: dict[str, tuple[int, int]] | None = None
    fee_bps: int = 100

    @property
    def tick(self) -> int:
        return 1000 // gcd(1000, self.lot_wh)

    def price_range(self, currency: str) -> tuple[int, int]:
        return (self.limits or parse_limits(DEFAULT_LIMITS))[currency]

    def fee(self, money: int) -> int:
        return money * self.fee_bps // 10_000

    def check_wh(self, wh: int) -> None:
        if wh <= 0:
            raise BadOrder("zero")
        if wh % self.lot_wh:
            raise BadOrder("lot")

    def check_price(self, currency: str, price: int) -> None:
        low, high = self.price_range(currency)
        if price % self.tick:
            raise BadOrder("tick")
        if not low <= price <= high:
            raise BadOrder("range")


def parse_limits(text: str) -> dict[str, tuple[int, int]]:
    limits = {}
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            currency, _, span = part.partition("=")
            low, _, high = span.partition("..")
            limits[currency.strip().upper()] = (int(low), int(high))
    except ValueError:
        raise SystemExit(f"MARKET_PRICE_LIMITS must look like {DEFAULT_LIMITS!r}, got {text!r}") from None
    return limits


def parse_kwh(text: str) -> int:
    """'5', '2.5', '0,3', '2.5kWh' -> Wh. Raises BadOrder('number') when it is not an amount."""
    raw = text.strip().lower().replace(" ", "").removesuffix("kwh").replace(",", ".")
    if not raw or not all(ch.isdigit() or ch == "." for ch in raw) or raw.count(".") > 1 or not raw.isascii():
        raise BadOrder("number")
    try:
        wh = Decimal(raw) * 1000
    except InvalidOperation:
        raise BadOrder("number") from None
    if wh != wh.to_integral_value():
        raise BadOrder("lot")
    if wh <= 0:
        raise BadOrder("zero")
    return int(wh)


def from_settings(settings) -> MarketRules:
    return MarketRules(lot_wh=settings.market_lot_wh, limits=parse_limits(settings.market_price_limits),
                       fee_bps=settings.market_fee_bps)
