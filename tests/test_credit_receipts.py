"""SMS receipts for credits the user did not ask for on a screen (issue 16, item 8): an operator's credit
(`enerlectra energy credit`, `enerlectra ledger credit`) and a meter's, in the owner's language."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from enerlectra.db.models import SmsOutbox
from tests.test_meters import OWNER, REGISTERED_HOURS_AGO, SECRET, _cli, add_meter, books_ok, reading, timed
from tests.test_wallet import Phone
from ussd_app import appkeys
from ussd_app.app import create_app

LANGUAGE_KEY = {"en": "1", "bem": "2", "nya": "3", "sw": "4"}


async def onboard(client, language: str = "en") -> None:
    phone = Phone(client, OWNER)
    await phone.dial()
    await phone.press(LANGUAGE_KEY[language], "Kasonde", "4826", "4826")


async def receipts(client, kind: str) -> list[str]:
    async with client.app[appkeys.DB]() as s:
        return list((await s.scalars(select(SmsOutbox.body).where(SmsOutbox.msisdn == OWNER, SmsOutbox.kind == kind)
                                     .order_by(SmsOutbox.id))).all())


# (command, language, what the receipt says)
CREDITS = [
    (["energy", "credit", OWNER, "1500", "--reason", "pilot"], "en",
     "Enerlectra: we added 1.5 kWh to your energy. Ref C"),
    (["ledger", "credit", OWNER, "25.50", "--reason", "refund of a fault"], "en",
     "Enerlectra: we added K25.50 to your wallet. Ref C"),
    (["energy", "credit", OWNER, "1500", "--reason", "pilot"], "bem", "twalunda 1.5 kWh ku malaiti yenu"),
    (["ledger", "credit", OWNER, "25.50", "--reason", "r"], "nya", "tawonjezera K25.50 m'chikwama chanu"),
    (["ledger", "credit", OWNER, "25.50", "--reason", "r"], "sw", "tumeongeza K25.50 kwenye pochi yako"),
]


@pytest.mark.parametrize("args, language, says", CREDITS, ids=[f"{c[0][0]}-{c[1]}" for c in CREDITS])
async def test_an_operator_credit_sends_the_owner_a_receipt_once(client, args, language, says):
    await onboard(client, language)
    done = _cli(client, [*args, "--key", "ticket-42"], "")
    assert done.returncode == 0 and "SMS receipt" in done.stdout, done.stdout + done.stderr
    again = _cli(client, [*args, "--key", "ticket-42"], "")          # the same credit again: posted once
    assert again.returncode == 0, again.stderr
    sent = [b for b in await receipts(client, "receipt")]
    assert len(sent) == 1 and says in sent[0], sent


# (label, readings as (export Wh, import Wh, hours after registration), METER_RECEIPT_HOURS, language, receipts)
METER_CASES = [
    ("one credit", [(12_500, 0, 2)], 6, "en",
     ["Enerlectra: meter MTR-001 credited 2.5 kWh (2.5 kWh today), used 0.0 kWh. Your energy: 2.5 kWh."]),
    ("two credits in one window: one SMS", [(12_500, 0, 2), (14_000, 0, 3)], 6, "en",
     ["Enerlectra: meter MTR-001 credited 2.5 kWh (2.5 kWh today), used 0.0 kWh. Your energy: 2.5 kWh."]),
    ("every credit when the window is 0", [(12_500, 0, 2), (14_000, 500, 3)], 0, "en",
     ["meter MTR-001 credited 2.5 kWh (2.5 kWh today), used 0.0 kWh. Your energy: 2.5 kWh.",
      "meter MTR-001 credited 1.5 kWh (4.0 kWh today), used 0.5 kWh. Your energy: 3.5 kWh."]),
    ("in the owner's language", [(12_500, 0, 2)], 6, "sw", ["mita MTR-001 imeongeza 2.5 kWh (2.5 kWh leo)"]),
    ("a flagged reading: no SMS", [(90_000, 0, 2)], 0, "en", []),
    ("import only: no SMS", [(10_000, 500, 2)], 0, "en", []),
    ("a repeat: no second SMS", [(12_500, 0, 2), (12_500, 0, 2)], 0, "en", ["credited 2.5 kWh (2.5 kWh today)"]),
]


@pytest.mark.parametrize("label, posts, hours, language, says", METER_CASES, ids=[c[0] for c in METER_CASES])
async def test_a_meter_credit_sends_the_owner_a_receipt(aiohttp_client, settings, label, posts, hours, language,
                                                        says):
    client = await aiohttp_client(create_app(settings.with_(meter_receipt_hours=hours)))
    await onboard(client, language)
    registered = await add_meter(client, OWNER, hours_ago=REGISTERED_HOURS_AGO)
    for export_wh, import_wh, at in posts:
        resp = await client.post("/meters/readings", json=timed(reading(export_wh, import_wh, at), registered),
                                 headers={"X-Meter-Secret": SECRET})
        assert resp.status in (200, 202), await resp.text()
    sent = await receipts(client, "meter")
    assert len(sent) == len(says) and all(want in got for want, got in zip(says, sent)), sent
    await books_ok(client)
