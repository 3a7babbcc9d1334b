"""Payment limits per currency (PAYMENT_LIMITS_MINOR, PAYMENT_DAILY_LIMITS_MINOR over PAYMENT_LIMIT_MINOR and
PAYMENT_DAILY_LIMIT_MINOR): a table through the real service and providers' fakes, the settings' parsing and
its one-line refusal, and the limits raced in two currencies at once."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from enerlectra.db.models import Payment
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.settings import Settings, currency_amounts
from payments.service import Limits, OverLimit
from tests import test_payments
from tests.test_payments import books_ok, settled
from ussd_app import appkeys

# the app with every provider pointed at its fake (test_payments' fixtures)
mtn, airtel, pawapay, make_pay = test_payments.mtn, test_payments.airtel, test_payments.pawapay, test_payments.make_pay

TANZANIAN = "+255712500009"       # pawaPay serves Tanzania
LIMITS = Limits(5000, 8000, {"TZS": 500_000}, {"TZS": 800_000})   # K50 / K80; TSh 5,000 / TSh 8,000


@dataclass(frozen=True)
class Case:
    label: str
    currency: str
    before: tuple[int, ...]       # settled earlier today
    amount: int
    refused: str | None           # None: started; else OverLimit.which


CASES = [
    Case("ZMW under", "ZMW", (), 4999, None),
    Case("ZMW at", "ZMW", (), 5000, None),
    Case("ZMW over", "ZMW", (), 5001, "payment"),
    Case("ZMW day at", "ZMW", (5000,), 3000, None),
    Case("ZMW day over", "ZMW", (5000,), 3001, "day"),
    Case("TZS above ZMW's limit", "TZS", (), 6000, None),
    Case("TZS under", "TZS", (), 499_900, None),
    Case("TZS at", "TZS", (), 500_000, None),
    Case("TZS over", "TZS", (), 500_100, "payment"),
    Case("TZS day at", "TZS", (500_000,), 300_000, None),
    Case("TZS day over", "TZS", (500_000,), 300_100, "day"),
]


async def _tanzanian(client):
    return await users.register(client.app[appkeys.DB], parse_msisdn(TANZANIAN), "Neema", "sw",
                                hash_user_pin("4826", 16))


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_limits_per_currency(make_pay, case):
    client, _fake, zambian = await make_pay("pawapay")
    user = zambian if case.currency == "ZMW" else await _tanzanian(client)
    assert user.currency == case.currency
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = LIMITS
    for amount in case.before:
        assert (await settled(client, (await payments.deposit(user, amount, key=uuid.uuid4().hex)).reference)
                ).state == "succeeded"
    if case.refused is None:
        await payments.check_limits(user.id, "collection", case.amount)          # the screen's early word agrees
        await payments.deposit(user, case.amount, key=uuid.uuid4().hex)
    else:
        with pytest.raises(OverLimit) as early:
            await payments.check_limits(user.id, "collection", case.amount, case.currency)
        with pytest.raises(OverLimit) as exc:
            await payments.deposit(user, case.amount, key=uuid.uuid4().hex)
        assert exc.value.which == early.value.which == case.refused
        per = LIMITS.payment if case.refused == "payment" else LIMITS.day
        assert exc.value.limit == per(case.currency)
    async with client.app[appkeys.DB]() as s:
        started = await s.scalar(select(func.count()).select_from(Payment).where(Payment.user_id == user.id))
    assert started == len(case.before) + (case.refused is None)
    await books_ok(client)


async def test_the_app_builds_its_limits_from_the_settings(make_pay):
    client, _fake, _user = await make_pay("pawapay")
    limits = client.app[appkeys.PAYMENTS].limits
    assert (limits.payment("ZMW"), limits.day("ZMW")) == (500_000, 2_000_000)
    assert (limits.payment("TZS"), limits.day("TZS")) == (50_000_000, 200_000_000)
    assert (limits.payment("KES"), limits.day("KES")) == (500_000, 2_000_000)     # not listed: the old names


@pytest.mark.parametrize("env,zmw,tzs", [
    ({}, (500_000, 2_000_000), (50_000_000, 200_000_000)),
    ({"PAYMENT_LIMIT_MINOR": "1000", "PAYMENT_DAILY_LIMIT_MINOR": "3000"}, (1000, 3000), (50_000_000, 200_000_000)),
    ({"PAYMENT_LIMITS_MINOR": "zmw=7000", "PAYMENT_DAILY_LIMITS_MINOR": " ZMW = 9000 "},
     (7000, 9000), (50_000_000, 200_000_000)),
    ({"PAYMENT_LIMITS_MINOR": "TZS=100000,ZMW=2000", "PAYMENT_DAILY_LIMITS_MINOR": "TZS=300000"},
     (2000, 2_000_000), (100_000, 300_000)),
])
def test_settings_per_currency_over_the_defaults(env, zmw, tzs):
    settings = Settings.from_env(env)
    limits = Limits.from_settings(settings)
    assert (limits.payment("ZMW"), limits.day("ZMW")) == zmw
    assert (limits.payment("TZS"), limits.day("TZS")) == tzs
    again = Limits.from_settings(Settings.from_env(settings.worker_env()))    # a worker sees the same
    assert again == limits


@pytest.mark.parametrize("name", ["PAYMENT_LIMITS_MINOR", "PAYMENT_DAILY_LIMITS_MINOR"])
@pytest.mark.parametrize("raw", ["TZS", "TZS=", "TZS=1.5", "TZS=-5", "TZ=100", "TZS=1e6", "=100", "TZS=ten",
                                 "TZS=100;ZMW=5", "TZS=1000000000000000000"])
def test_a_malformed_limit_stops_startup_with_one_line(name, raw):
    with pytest.raises(SystemExit) as exc:
        Settings.from_env({name: raw})
    message = str(exc.value)
    assert message.startswith(f"{name}: ") and "CURRENCY=minor units" in message and "\n" not in message


def test_currency_amounts_reads_over_its_default():
    assert currency_amounts("", "TZS=5") == {"TZS": 5}
    assert currency_amounts("tzs=7, ZMW=9,", "TZS=5") == {"TZS": 7, "ZMW": 9}


async def test_many_deposits_at_once_in_two_currencies_each_hold_their_own_day(make_pay):
    """Ten deposits each of a Zambian and a Tanzanian at once: four of each fit their currency's day."""
    client, _fake, zambian = await make_pay("pawapay")
    tanzanian = await _tanzanian(client)
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = Limits(2000, 8000, {"TZS": 200_000}, {"TZS": 800_000})
    attempts = [(zambian, 2000)] * 10 + [(tanzanian, 200_000)] * 10
    results = await asyncio.gather(*(payments.deposit(u, amount, key=f"race-{n}")
                                     for n, (u, amount) in enumerate(attempts)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, OverLimit)]
    assert len(refused) == 12 and {r.which for r in refused} == {"day"}, results
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, OverLimit)], results
    async with client.app[appkeys.DB]() as s:
        totals = dict((await s.execute(select(Payment.currency, func.sum(Payment.amount))
                                       .group_by(Payment.currency))).all())
    assert totals == {"ZMW": 8000, "TZS": 800_000}
    for result in results:
        if not isinstance(result, Exception):
            await settled(client, result.reference)
    await books_ok(client)
