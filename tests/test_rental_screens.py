"""The Charge menu and the RENT / MY RENTAL keywords, through the real app on both databases, with fake
stations (simulator/stations) on the tests' broker answering the ejects the screens ask for.

A rent, the rental screen, an extension, a lost report; every refusal as its own clear screen; the SMS
keywords in every language; and every new text within its budget in every language."""
from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from enerlectra import i18n
from enerlectra.db.models import JournalEntry, Payment, Rental, SmsOutbox, Station
from enerlectra.domain import hops, users, wallet
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.domain.rentals import asks, service
from enerlectra.domain.rentals.service import RentRefused
from enerlectra.domain.stations import fleet
from enerlectra.domain.work import unit_of_work
from enerlectra.text.gsm7 import is_gsm7, screen_units
from payments.texts import payment_ok_text
from simulator.stations.station import FakeStation
from sms.commands import parse
from sms.commands import rentals as rent_sms
from tests import test_azampay, test_payments
from tests.conftest import TEST_KDF_COST, random_station_code
from tests.helpers import AtPhone
from tests.test_sms_webhooks import sms
from tests.test_station_link import until
from ussd_app import appkeys
from ussd_app.app import create_app

PIN = "4826"
RENTER = "+260971230001"
RICH = 1_000_00


@pytest.fixture
async def app_client(aiohttp_client, settings, mqtt_url):
    """The app with its station link on the tests' broker (a subscriber: it hears the fake stations)."""
    client = await aiohttp_client(create_app(settings.with_(mqtt_url=mqtt_url, eject_unknown_seconds=3,
                                                            eject_ttl_seconds=2)))
    await asyncio.wait_for(client.app[appkeys.STATION_LINK].connected.wait(), 10)
    return client


@pytest.fixture
async def stations():
    started: list[FakeStation] = []
    yield started
    for st in started:
        await st.stop()


async def renter(client, money: int = RICH, msisdn: str = RENTER, language: str = "en"):
    db = client.app[appkeys.DB]
    user = await users.register(db, parse_msisdn(msisdn), "Renter", language,
                                hash_user_pin(PIN, TEST_KDF_COST))
    if money:
        await wallet.credit(db, f"test:fund:{msisdn}", user, user.currency, money, "test")
    return user


async def cabinet(client, stations, mqtt_url, banks: int = 2, slots: int = 4, area: str = "Kabwata",
                  online: bool = True, country: str = "ZM") -> str:
    """A station in SQL and, when `online`, its fake cabinet on the broker, heard by the link."""
    code = random_station_code()
    async with unit_of_work(client.app[appkeys.DB]) as s:
        await fleet.add(s, code, f"{area} Market", area, slots, country)
    if online:
        st = FakeStation(code, slots, mqtt_url=mqtt_url, heartbeat_seconds=30)
        for n in range(1, banks + 1):
            st.cabinet.load(n, f"PB{int(code):06d}{n:02d}", 95)
        await st.start()
        stations.append(st)
        assert await until(lambda: _online(client, code))
    return code


async def _online(client, code: str) -> bool:
    async with client.app[appkeys.DB]() as s:
        found = await fleet.views(s, 80, code=code)
    return bool(found and found[0].online and found[0].free_banks)


async def charge(phone: AtPhone, language: str = "en") -> str:
    """Dial and open Charge from the main menu (its number is wherever the menu lists it)."""
    home = await phone.dial()
    label = r"(\d+) " + i18n.in_language(language, "Charge a phone")
    if not re.search(label, home):          # the resume offer (a call left on a screen): 2 Start again
        home = await phone.press("2")
    found = re.search(label, home)
    assert found, home
    number = found.group(1)
    return await phone.press(number)


async def rentals(client) -> list[Rental]:
    async with client.app[appkeys.DB]() as s:
        return list(await s.scalars(select(Rental).order_by(Rental.id)))


# -- the rent ------------------------------------------------------------------------------------

async def test_rent_the_rental_screen_extend_and_report_lost(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    assert "1 Rent a power bank" in await charge(phone)
    assert "Type the station code printed on the cabinet:" in await phone.press("1")
    terms = await phone.press(code)
    assert terms.startswith("CON Kabwata Market: deposit") and "1 Rent" in terms
    assert "Enter your PIN" in await phone.press("1")
    done = await phone.press(PIN)
    assert done.startswith("END Take your power bank from slot "), done
    [rental] = await rentals(client)
    assert rental.state == "active" and rental.ref in done

    mine = await charge(phone) and await phone.press("2")
    assert rental.ref in mine and "used 0:0" in mine and "1 Extend" in mine and "2 Report lost" in mine
    assert "how many hours" in await phone.press("1")
    assert f"Extend {rental.ref} by 2 h for" in await phone.press("2")
    extended = await phone.press(PIN)
    assert extended.startswith(f"END Extended. {rental.ref} is now due"), extended
    assert (await rentals(client))[0].prepaid > 0

    await charge(phone)
    await phone.press("2")
    assert "You pay" in await phone.press("2")
    assert "Enter your PIN to report" in await phone.press("1")
    lost = await phone.press(PIN)
    assert lost.startswith(f"END Reported lost: {rental.ref} is closed"), lost
    assert (await rentals(client))[0].state == "lost"
    assert "You have no power bank out" in (await charge(phone) and await phone.press("2"))


async def test_a_recent_station_is_picked_by_its_number(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url, banks=2)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    await phone.press("1", code, "1", PIN)
    async with unit_of_work(client.app[appkeys.DB]) as s:      # it went back: the renter may rent again
        rental = await s.scalar(select(Rental))
        rental.state = "returned"
    await charge(phone)
    picks = await phone.press("1")
    assert f"1 {code} Kabwata Market" in picks
    assert "Kabwata Market: deposit" in await phone.press("1")


async def test_a_station_that_does_not_answer_gets_the_pending_end(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    stations[0].faults.next("slow", seconds=6)         # the result comes after the screen's 3 s
    phone = AtPhone(client, RENTER)
    await charge(phone)
    done = await phone.press("1", code, "1", PIN)
    assert done.startswith("END Slot ") and "will open in a moment; an SMS confirms it" in done, done


async def test_an_eject_that_fails_gives_the_deposit_back(app_client, stations, mqtt_url):
    client = app_client
    me = await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    stations[0].faults.next("not_popped")
    phone = AtPhone(client, RENTER)
    await charge(phone)
    done = await phone.press("1", code, "1", PIN)
    assert done.startswith("END The station could not open a slot. Your deposit is back"), done
    async with client.app[appkeys.DB]() as s:
        assert (await wallet.balances(s, me.id, "ZMW")).money == RICH


# -- refusals ------------------------------------------------------------------------------------

async def test_an_offline_station_is_refused(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url, online=False)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    assert (await phone.press("1", code)).startswith(f"END Station {code} is offline now.")
    assert await rentals(client) == []


async def test_a_station_with_no_charged_bank_is_refused(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = random_station_code()
    async with unit_of_work(client.app[appkeys.DB]) as s:
        await fleet.add(s, code, "Empty", "Kabwata", 4)
    st = FakeStation(code, 4, mqtt_url=mqtt_url, heartbeat_seconds=30)
    await st.start()
    stations.append(st)

    async def heard():
        async with client.app[appkeys.DB]() as s:
            return (await fleet.views(s, 80, code=code))[0].online
    assert await until(heard)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    assert (await phone.press("1", code)).startswith(f"END Station {code} has no charged power bank now.")


mtn, airtel, azam = test_payments.mtn, test_payments.airtel, test_azampay.azam     # the sandboxes' fixtures


@pytest.fixture
async def money_client(aiohttp_client, settings, mqtt_url, mtn, airtel, azam):
    """The app with its station link and MTN MoMo, Airtel Money and AzamPay on their sandboxes."""
    (mtn_fake, mtn_url), (airtel_fake, airtel_url), (azam_fake, azam_url) = mtn, airtel, azam
    client = await aiohttp_client(create_app(settings.with_(
        mqtt_url=mqtt_url, mtn_base_url=mtn_url, mtn_api_user=mtn_fake.api_user, mtn_api_key=mtn_fake.api_key,
        mtn_subscription_key=mtn_fake.subscription_key, airtel_base_url=airtel_url,
        airtel_client_id=airtel_fake.client_id, airtel_client_secret=airtel_fake.client_secret,
        airtel_callback_key=airtel_fake.callback_key, azampay_base_url=azam_url, azampay_app_name=azam_fake.app_name,
        azampay_client_id=azam_fake.client_id, azampay_client_secret=azam_fake.client_secret)))
    await asyncio.wait_for(client.app[appkeys.STATION_LINK].connected.wait(), 10)
    return client


async def payments_of(client) -> list[Payment]:
    async with client.app[appkeys.DB]() as s:
        return list(await s.scalars(select(Payment).order_by(Payment.id)))


# (country, renter's number, wallet money, the wallet named, the provider, offered top-up, deposit rule)
TOP_UPS = [
    ("ZM", "+260971230101", 100, "Airtel Money", "airtel", "K99.00", 99_00),
    ("ZM", "+260961230102", 99_95, "MTN MoMo", "mtn", "K1.00", 1_00),         # 5 ngwee short: the least, K1
    ("TZ", "+255754230103", 7_000_00, "M-Pesa", "azampay", "TSh 3,000", 3_000_00),
    ("TZ", "+255754230104", 0, "M-Pesa", "azampay", "TSh 10,000", 10_000_00),  # TZS's own limit: one top-up
]


@pytest.mark.parametrize("country,msisdn,money,wallet_name,provider,shown,amount", TOP_UPS)
async def test_short_of_the_deposit_offers_the_top_up_there(money_client, stations, mqtt_url, country, msisdn, money,
                                                             wallet_name, provider, shown, amount):
    client = money_client
    await renter(client, money=money, msisdn=msisdn)
    code = await cabinet(client, stations, mqtt_url, country=country)
    phone = AtPhone(client, msisdn)
    await charge(phone)
    screen = await phone.press("1", code)
    assert screen.startswith("CON The deposit needs ") and f"1 Top up {shown}" in screen, screen
    confirm = await phone.press("1")
    assert f"Deposit {shown} from {wallet_name} 0" in confirm and "1 Confirm" in confirm, confirm
    done = await phone.press("1")
    assert done == f"END Approve the prompt on your phone to pay {shown}. Once paid, dial again to rent.", done
    [payment] = await payments_of(client)
    assert (payment.direction, payment.provider, payment.amount, payment.msisdn) == (
        "collection", provider, amount, msisdn)
    assert await rentals(client) == []


async def test_a_top_up_past_the_currencys_payment_limit_offers_the_most_one_payment_moves(money_client, stations,
                                                                                         mqtt_url):
    client, msisdn = money_client, "+255754230105"
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = replace(payments.limits, payments={**payments.limits.payments, "TZS": 5_000_00})
    await renter(client, money=0, msisdn=msisdn)
    code = await cabinet(client, stations, mqtt_url, country="TZ")
    phone = AtPhone(client, msisdn)
    await charge(phone)
    assert "1 Top up TSh 5,000" in await phone.press("1", code)     # the rest on the next dial
    assert "Deposit TSh 5,000 from M-Pesa 0" in await phone.press("1")


async def test_the_top_up_is_asked_once_when_the_hop_is_resent(money_client, stations, mqtt_url):
    client = money_client
    await renter(client, money=100)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    await phone.press("1", code, "1")
    first = await phone.press("1")
    assert await phone.hop("*".join(phone.inputs)) == first       # AT retries the same text
    assert len(await payments_of(client)) == 1


async def test_a_top_up_past_the_days_limit_ends_with_nothing_started(money_client, stations, mqtt_url):
    client = money_client
    await renter(client, money=100)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    await phone.press("1", code, "1", "1")                   # today's first top-up: K99.00 (the sandbox holds it)
    [first] = await payments_of(client)
    await charge(phone)
    payments = client.app[appkeys.PAYMENTS]
    payments.limits = type(payments.limits)(payments.limits.per_payment, first.amount + 50_00)
    assert "1 Top up K99.00" in await phone.press("1", code)  # not paid yet: still short
    assert await phone.press("1") == "END That passes today's limit. Nothing was started."
    assert [p.id for p in await payments_of(client)] == [first.id]


async def _owes(client, user, code: str, amount: int) -> Rental:
    """An earlier rental of `user`, lost, its bill `amount` beyond what the wallet could pay (rentals.owed)."""
    async with unit_of_work(client.app[appkeys.DB]) as s:
        station = await s.scalar(select(Station).where(Station.code == code))
        earlier = Rental(ref="R-1000001", request_key=f"test:owed:{user.id}", user_id=user.id, station_id=station.id,
                         currency=user.currency, terms={}, state="lost", deposit=DEPOSIT, prepaid=0, owed=amount,
                         created_at=datetime.now(timezone.utc))
        s.add(earlier)
    return earlier


DEPOSIT, OWED = 100_00, 250_00


async def test_owing_and_short_offers_the_top_up_of_the_debt_and_the_deposit(money_client, stations, mqtt_url):
    client, msisdn = money_client, "+260971230101"                # Airtel: a network we collect from
    user = await renter(client, money=40_00, msisdn=msisdn)
    code = await cabinet(client, stations, mqtt_url)
    await _owes(client, user, code, OWED)
    phone = AtPhone(client, msisdn)
    await charge(phone)
    screen = await phone.press("1", code)
    assert screen.startswith("CON You owe K250.00 for an earlier power bank. Renting pays it and the deposit: top "
                             "up K310.00 first") and "1 Top up K310.00" in screen, screen
    assert "Deposit K310.00 from Airtel Money 0" in await phone.press("1")
    assert [r.ref for r in await rentals(client)] == ["R-1000001"]


async def test_owing_and_covered_says_the_debt_is_paid_and_pays_it_once(app_client, stations, mqtt_url):
    client = app_client
    user = await renter(client, money=400_00)
    code = await cabinet(client, stations, mqtt_url)
    earlier = await _owes(client, user, code, OWED)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    terms = await phone.press("1", code)
    assert terms.startswith("CON Renting pays the K250.00 you owe first. Kabwata Market: deposit K100.00.") \
        and "1 Rent" in terms, terms
    await phone.press("1")
    done = await phone.press(PIN)
    assert done == await phone.hop("*".join(phone.inputs))             # the PIN hop resent: paid once
    rows = {r.ref: r for r in await rentals(client)}
    assert rows[earlier.ref].owed == 0 and len(rows) == 2
    async with client.app[appkeys.DB]() as s:
        debts = await s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "rental_owed"))
        told = list(await s.scalars(select(SmsOutbox.body).where(SmsOutbox.dedupe_key.like("rental:%:owed_paid"))))
    assert debts == 1 and len(told) == 1 and "K250.00 you owed for an earlier power bank is paid" in told[0], told
    async with client.app[appkeys.DB]() as s:
        assert (await wallet.balances(s, user.id, "ZMW")).money == 400_00 - OWED - DEPOSIT


async def test_rent_by_sms_says_the_debt(app_client, stations, mqtt_url):
    client = app_client
    user = await renter(client, money=DEPOSIT)
    code = await cabinet(client, stations, mqtt_url)
    await _owes(client, user, code, OWED)
    await client.post("/sms/africastalking/inbound", data=sms(f"RENT {code}", sender=RENTER))
    body = await _reply(client, RENTER)
    assert body == "You owe K250.00 for an earlier power bank. Renting pays it and the deposit: top up K250.00 " \
        "first (Mobile money, 1).", body


async def test_a_deposit_that_fits_still_rents_with_1(app_client, stations, mqtt_url):
    """The 1 on the terms rents when the wallet holds the deposit: a top-up offered earlier is forgotten."""
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    assert "1 Rent" in await phone.press("1", code)
    assert "Enter your PIN" in await phone.press("1")
    assert await payments_of(client) == []


async def test_a_network_we_do_not_collect_from_gets_the_refusal(app_client, stations, mqtt_url):
    """No mobile money for the number (here: none configured): the short wallet is told what to do, no offer."""
    client = app_client
    await renter(client, money=100)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    screen = await phone.press("1", code)
    assert screen.startswith("END The deposit needs K") and "top up K" in screen, screen
    assert await rentals(client) == []


async def test_an_unknown_code_is_typed_again(app_client):
    client = app_client
    await renter(client)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    await phone.press("1")
    again = await phone.press("9999")
    assert again.startswith("CON No station 9999. Check the digits") and "station code" in again


async def test_a_second_rent_is_refused_while_one_is_out(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    await phone.press("1", code, "1", PIN)
    await charge(phone)
    assert (await phone.press("1", code)).startswith("END You have a power bank out already.")
    assert len(await rentals(client)) == 1


async def test_the_same_hop_again_rents_once(app_client, stations, mqtt_url):
    """A retransmission of the PIN hop (the replay cache answers) and the rental's key: one rental, one deposit."""
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    first = await phone.press("1", code, "1", PIN)
    assert first == await phone.hop("*".join(phone.inputs))
    assert len(await rentals(client)) == 1
    async with client.app[appkeys.DB]() as s:
        deposits = await s.scalar(select(func.count()).select_from(JournalEntry)
                                  .where(JournalEntry.idempotency_key.like("%:rent:deposit")))
    assert deposits == 1


async def test_find_a_station_by_area(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url, banks=2, slots=4, area="Chelston")
    phone = AtPhone(client, RENTER)
    await charge(phone)
    assert "area name" in await phone.press("3")
    found = await phone.press("chelston")
    assert "Stations in chelston:" in found and f"{code} Chelston Market: 2 to rent, 2 free to return" in found
    nowhere = await phone.press("0", "3", "Nowhere")
    assert "No station with a charged power bank in Nowhere" in nowhere


# -- SMS -----------------------------------------------------------------------------------------

async def _reply(client, msisdn: str) -> str:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(select(SmsOutbox.body).where(SmsOutbox.msisdn == msisdn,
                                                           SmsOutbox.kind.like("reply:%"))
                              .order_by(SmsOutbox.id.desc()).limit(1))


SMS_CASES = [   # (language, what they send, a fragment of the reply)
    ("en", "RENT {code}", "To rent, dial *123# at the station: Charge, 1, code {code}."),
    ("sw", "KODI {code}", "Kukodi, piga *123# kituoni"),
    ("bem", "ashima {code}", "Ukushima, imbeni *123#"),
    ("nya", "BWEREKA {code}", "Kubwereka, imbani *123#"),
    ("en", "RENT", "like RENT 1234"),
    ("en", "RENT abc", "like RENT 1234"),
    ("en", "RENT 9999", "No station 9999."),
    ("en", "MY RENTAL", "You have no power bank out."),
    ("sw", "KODI YANGU", "Huna power bank."),
    ("nya", "YANGA", "Mulibe power bank."),
]


@pytest.mark.parametrize("language, text, reply", SMS_CASES, ids=[f"{c[0]}-{c[1]}" for c in SMS_CASES])
async def test_rent_keywords(app_client, stations, mqtt_url, language, text, reply):
    client = app_client
    number = "+255712300001" if language == "sw" else RENTER
    await renter(client, msisdn=number, language=language, money=100_000_00 if language == "sw" else RICH)
    code = await cabinet(client, stations, mqtt_url, country="TZ" if language == "sw" else "ZM") \
        if "{code}" in text else "1234"
    resp = await client.post("/sms/africastalking/inbound", data=sms(text.format(code=code), sender=number))
    assert resp.status == 200
    body = await _reply(client, number)
    assert reply.format(code=code) in body, body
    assert await rentals(client) == []           # an SMS never rents


async def test_my_rental_by_sms_shows_the_rental(app_client, stations, mqtt_url):
    client = app_client
    await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    await phone.press("1", code, "1", PIN)
    [rental] = await rentals(client)
    await client.post("/sms/africastalking/inbound", data=sms("my rental", sender=RENTER))
    body = await _reply(client, RENTER)
    assert body.startswith(f"{rental.ref} from Kabwata Market: used 0:0") and "at any station" in body, body


def test_rent_and_my_are_keywords_in_every_language():
    for word in ("RENT", "KODI", "ASHIMA", "BWEREKA", "MY", "YANGU", "YANDI", "YANGA"):
        assert parse(f"{word} 1234")[0] in (rent_sms.RENT, rent_sms.MY_RENTAL), word


# -- every new text within its budget in every language --------------------------------------------

LONG = "Kabwata Market Stall Nine"
VIEW = SimpleNamespace(ref="R-9999999", state="active", station_name=LONG, slot=99, minutes_used=168 * 60 + 59,
                       cost_so_far=99_999_999, currency="ZMW", deposit=99_999_999, eject_state="ok",
                       due_at=datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc) + timedelta(0))


def _texts() -> list[tuple[str, str, int]]:
    """(what, text, budget): the screens' share is 160 less their options and 0 Back / 00 Home."""
    found = [(f"refusal {code}", asks.refusal_text(code, "123456", 99_999_999, "ZMW"), 160 - 20)
             for code in ("unknown_station", "offline", "no_bank", "short", "open_rental", "wrong_country", "?")]
    found += [("refusal owed", asks.refusal_text("owed", "123456", 99_999_999, "ZMW", 99_999_999), 160 - 20)]
    for state, eject in (("active", "ok"), ("ejecting", "pending"), ("cancelled", "failed")):
        view = SimpleNamespace(**{**vars(VIEW), "state": state, "eject_state": eject})
        found += [(f"rental {state}", asks.rental_text(view, "ZM"), 160 - 40),
                  (f"eject {eject}", asks.eject_text(view, "ZM"), 160)]
    found += [("usage", rent_sms.rent_usage(), 160), ("none", rent_sms.no_rental_text(), 160),
              ("by ussd", rent_sms.rent_by_ussd("x" * 136, "123456", "*123*44#"), 306)]
    paid = SimpleNamespace(direction="collection", purpose="rent:123456", amount=99_999_999, currency="ZMW",
                           reference="abcdef12-0000")
    found += [("top-up paid sms", payment_ok_text(None, paid), 160)]
    return found


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_texts_fit_in_every_language(language):
    i18n.load_all()
    with i18n.language(language):
        for what, text, budget in _texts():
            assert is_gsm7(text), (what, text)
            assert screen_units(text) <= budget, (what, screen_units(text), text)


def test_refused_carries_what_the_screens_show():
    exc = RentRefused("short", "1234", 1200)
    assert (exc.code, exc.station, exc.needed) == ("short", "1234", 1200)


async def test_hop_keys_are_taken_as_the_rental_step_they_ran(app_client, stations, mqtt_url):
    """hops.taken reads the kernel's ledger keys: a hop replayed after Redis lost the session, walked one place
    off, cannot extend with the key that rented (menus.common.money_step_refused)."""
    client = app_client
    me = await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    db = client.app[appkeys.DB]
    shown = await service.rent(db, me, code, key="ussd:hop1:rent", publish=client.app[appkeys.ENGINE].services.publish)
    assert (await service.wait_for_eject(db, shown.ref, 5)).state == "active"
    await service.extend(db, me, 1, key="ussd:hop2:extend")
    async with db() as s:
        assert await hops.taken(s, "ussd:hop1", me.id) == {"rent"}
        assert await hops.taken(s, "ussd:hop2", me.id) == {"extend"}
        assert await hops.taken(s, "ussd:hop3", me.id) == set()
    await service.report_lost(db, me, key="ussd:hop3:lost")
    async with db() as s:
        assert await hops.taken(s, "ussd:hop3", me.id) == {"lost"}


@pytest.fixture
async def dear_client(aiohttp_client, settings, mqtt_url):
    """The app with the dearest tariff the rules allow (tariff.MOST_MINOR, the longest times): every screen at
    its longest figures."""
    most = ",".join(f"ZMW:{key}=99999999" for key in ("deposit", "hour", "cap", "late", "device"))
    client = await aiohttp_client(create_app(settings.with_(
        mqtt_url=mqtt_url, rental_tariffs=most, rental_free_minutes=120, rental_grace_minutes=120,
        rental_hours=168, rental_max_extension_hours=168)))
    await asyncio.wait_for(client.app[appkeys.STATION_LINK].connected.wait(), 10)
    return client


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
async def test_every_screen_fits_at_the_dearest_tariff(dear_client, stations, mqtt_url, language):
    """AtPhone checks each screen the way lint does (160 GSM-7): the longest names, the largest amounts."""
    client = dear_client
    await renter(client, money=99_999_999_99, language=language)
    code = await cabinet(client, stations, mqtt_url, area="Kanyama Compound West Extension 2")
    phone = AtPhone(client, RENTER)
    await charge(phone, language)
    await phone.press("1", code, "1")
    assert "R-" in await phone.press(PIN)
    await charge(phone, language)
    await phone.press("1")                                   # the recent station listed
    await charge(phone, language)
    assert "K6,999,999.93" in await phone.press("2", "1", "168")    # the rental, the dearest extension
    assert "K999,999.99" in await phone.press("0", "0", "2")         # lost: the device price
    await charge(phone, language)
    await phone.press("3", "Kanyama Compound West Extension 2")
    await phone.press("0", "Nowhere at all in this wide country")


async def test_the_rent_hop_again_after_redis_lost_the_session_rents_nothing_more(app_client, stations, mqtt_url):
    """The PIN hop retransmitted after Redis lost everything: the engine walks its path again, the hop key is
    the same, so the kernel finds the rental that key made (hops: a walked hop only replays what its key did)."""
    client = app_client
    me = await renter(client)
    code = await cabinet(client, stations, mqtt_url)
    phone = AtPhone(client, RENTER)
    await charge(phone)
    first = await phone.press("1", code, "1", PIN)
    redis, prefix = client.app[appkeys.REDIS], client.app[appkeys.SETTINGS].redis_prefix
    async for key in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(key)
    again = await phone.hop("*".join(phone.inputs))
    assert again.startswith("END") and re.search(r"R-\d+", first).group(0) in again, (first, again)
    [rental] = await rentals(client)
    async with client.app[appkeys.DB]() as s:
        assert (await wallet.balances(s, me.id, "ZMW")).money == RICH - rental.deposit


# what a handset may send as an area: the screen echoes it, so it keeps only GSM-7 (hypothesis found "0\x1a"
# echoed as a control character, an unsendable screen); too little left is asked again
AREAS = [("0\x1a", "Type the name of an area"), ("Kab\x1awata", "in Kabwata now"),
         ("Chelst\u00f6n\u200b", "in Chelst\u00f6n now"), ("\u263a\u263a", "Type the name of an area")]


@pytest.mark.parametrize("typed, says", AREAS)
async def test_an_area_with_characters_a_screen_cannot_carry(app_client, typed, says):
    await renter(app_client)
    phone = AtPhone(app_client, RENTER)
    await charge(phone)
    await phone.press("3")
    assert says in await phone.press(typed)
