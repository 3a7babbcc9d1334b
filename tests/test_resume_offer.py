"""The resume offer ("Continue where you left off?") comes only where a journey was in progress: a screen
that reads an answer (a prompt, a confirm), never after home, a feature's menu, a screen that only shows
(balance, history, the market, my meters) or a list to pick from. Through the app, on real Redis and SQL."""
from __future__ import annotations

import json

import pytest

from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.ussd.types import Session
from tests.helpers import AtPhone, new_session_id
from ussd_app import appkeys

MSISDN = "+260971800001"
OFFER = "Continue where you left off?"

# (what the user looked at, keys from the main menu, the state it is, offered again after the call drops)
ROWS = [
    ("main menu", [], "main_menu", False),
    ("balance (wallet menu)", ["1"], "wallet_menu", False),
    ("history", ["1", "1"], "wallet_history", False),
    ("mobile money menu", ["2"], "money_menu", False),
    ("advisor topics", ["4"], "advisor_menu", False),
    ("trade menu", ["5"], "trade_menu", False),
    ("my offers and bids", ["5", "3"], "trade_myorders", False),
    ("the market", ["5", "4"], "trade_market", False),
    ("clusters menu", ["6"], "clusters_menu", False),
    ("settings menu", ["3"], "settings_menu", False),
    ("language list", ["3", "1"], "settings_language", False),
    ("my meters", ["3", "3"], "settings_meter", False),
    ("a wrong key on the balance", ["1", "7"], "wallet_menu", False),
    ("send money: the number", ["1", "2"], "wallet_sendto", True),
    ("deposit: the amount", ["2", "1"], "money_depamount", True),
    ("new cluster: its kind, after the name", ["6", "1", "Kabwata Sun"], "clusters_ckind", True),
    ("withdraw: the amount", ["2", "2"], "money_wdamount", True),
    ("another wallet's number", ["2", "3"], "money_wallet", True),
    ("advisor: the question", ["4", "1"], "advisor_question", True),
    ("sell: the kWh", ["5", "1"], "trade_sellkwh", True),
    ("buy: the kWh", ["5", "2"], "trade_buykwh", True),
    ("price alert: the price", ["5", "5"], "trade_alertprice", True),
    ("new cluster: the name", ["6", "1"], "clusters_cname", True),
    ("join a cluster: the code", ["6", "2"], "clusters_jcode", True),
    ("change PIN: the old PIN", ["3", "2"], "settings_pinold", True),
    ("a wrong key on a prompt", ["1", "2", "xyz"], "wallet_sendto", True),
]


@pytest.fixture
async def phone(client):
    await users.register(client.app[appkeys.DB], parse_msisdn(MSISDN), "Lubuto", "en",
                         hash_user_pin("4826", 16))
    return AtPhone(client, MSISDN)


@pytest.mark.parametrize("label,keys,state,offered", ROWS, ids=[r[0] for r in ROWS])
async def test_resume_is_offered_only_mid_journey(client, phone, label, keys, state, offered):
    assert OFFER not in await phone.dial()
    left = await phone.press(*keys) if keys else None
    stored = await client.app[appkeys.ENGINE].store.load_session(phone.sid)
    assert stored.state == state, (stored.state, left)
    again = await phone.dial()                           # the call dropped: dial again
    assert (OFFER in again) == offered, again
    if offered:
        assert (await phone.press("1"))[4:] == left[4:], "Continue shows the screen left"
    else:
        assert "Enerlectra - hi Lubuto" in again


@pytest.mark.parametrize("state,offered", [("wallet_menu", False), ("trade_market", False),
                                           ("main_menu", False), ("wallet_sendto", True)])
async def test_a_resume_point_kept_from_before_is_offered_only_mid_journey(client, phone, state, offered):
    """A pointer saved by an older release (which kept any screen) is judged by the same rule."""
    engine = client.app[appkeys.ENGINE]
    user = await users.get_by_msisdn(client.app[appkeys.DB], MSISDN)
    left = Session(id=new_session_id(), msisdn=MSISDN, country="ZM", state=state, lang="en", user_id=user.id,
                   name=user.name, screen={"body": ["(the screen left)"], "options": [], "end": False})
    await engine.store.redis.set(engine.store._resume_key(MSISDN), _blob(left), ex=60)
    assert (OFFER in await phone.dial()) == offered


def _blob(session: Session) -> str:
    return json.dumps(session.to_json())
