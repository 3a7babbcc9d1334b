"""The withdraw and deposit confirms name the mobile-money number and network the money goes to or comes from,
on the phone's own number and on "Use another number", in every language (issue 16, item 8)."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from enerlectra import i18n
from enerlectra.db.models import User
from enerlectra.domain import wallet
from tests.test_payments import airtel, make_pay, mtn, pawapay  # noqa: F401  fixtures
from tests.test_wallet import Phone
from ussd_app import appkeys

MONEY = "2"                       # the main menu's Mobile money

# (path, the phone's provider, keys before Deposit/Withdraw, the network and number the confirm names)
PATHS = [
    ("own MTN number", "mtn", [], "MTN MoMo 0961500001"),
    ("own Airtel number", "airtel", [], "Airtel Money 0971500002"),
    ("own Zamtel number (pawaPay)", "pawapay", [], "Zamtel Kwacha 0951500003"),
    ("another number: MTN from an Airtel phone", "airtel", ["3", "0961500099"], "MTN MoMo 0961500099"),
    ("another number: Zamtel from an MTN phone", "mtn", ["3", "0951500098"], "Zamtel Kwacha 0951500098"),
]


# (what, key on the mobile-money menu, the confirm's start)
DIRECTIONS = [("withdraw", "2", "Withdraw K20.00 to {names}. Fee "), ("deposit", "1", "Deposit K20.00 from {names}. Fee ")]


@pytest.mark.parametrize("what, key, says", DIRECTIONS, ids=[d[0] for d in DIRECTIONS])
@pytest.mark.parametrize("path, provider, keys, names", PATHS, ids=[p[0] for p in PATHS])
async def test_withdraw_and_deposit_confirms_name_the_number_and_network(make_pay, path, provider, keys, names,
                                                                         what, key, says):
    client, _fake, user = await make_pay(provider)
    await wallet.credit(client.app[appkeys.DB], "fund", user, "ZMW", 10_000, "test")
    phone = Phone(client, user.msisdn)
    await phone.dial()
    await phone.press(MONEY, *keys)
    confirm = await phone.press(key, "20")
    assert says.format(names=names) in confirm, confirm
    assert "98 " not in confirm, confirm                       # one page: nothing to page past


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
async def test_the_withdraw_confirm_names_the_number_in_every_language(make_pay, language):
    client, _fake, user = await make_pay("airtel")
    await wallet.credit(client.app[appkeys.DB], "fund", user, "ZMW", 1_000_000, "test")
    async with client.app[appkeys.DB]() as s, s.begin():
        await s.execute(update(User).where(User.id == user.id).values(language=language))
    phone = Phone(client, user.msisdn)
    await phone.dial()
    confirm = await phone.press(MONEY, "3", "0961500099", "2", "4999.99")
    assert "MTN MoMo 0961500099" in confirm and "98" not in confirm, confirm
