"""Power-bank rental billing (issue 20): the billing table on the default tariffs (ZMW and TZS), properties
over any tariff and any times (hypothesis), reminders, the settings, and the texts in every language within
their budgets at the extremes. Pure functions: no database, no broker."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from enerlectra import i18n
from enerlectra.domain.rentals import billing, texts
from enerlectra.domain.rentals.billing import (DAY, DUE_SOON, FINAL, HOUR, LOST, MINUTE, OVERDUE,
                                               BadExtension, Lost, Rental, Returned)
from enerlectra.domain.rentals.tariff import MOST_MINOR, NoTariff, Tariff, tariff_for, tariffs
from enerlectra.settings import Settings, rental_prices
from enerlectra.text.gsm7 import is_gsm7, non_gsm7, segment, septets

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc)
START = billing.seconds(T0)
ZMW, TZS = tariff_for(Settings(), "ZMW"), tariff_for(Settings(), "TZS")


def at(hours: int = 0, minutes: int = 0, secs: int = 0) -> int:
    return START + hours * HOUR + minutes * MINUTE + secs


def rental(tariff: Tariff, extend: tuple[int, int] | None = None) -> Rental:
    """A rental started at T0; `extend` = (hours, bought at hour h) before it is billed."""
    r = billing.start(tariff, T0)
    if extend:
        r = billing.extend(tariff, r, extend[0], at(extend[1])).rental
    return r


def figures(b: billing.Bill) -> tuple[int, ...]:
    return (b.hours, b.time_charge, b.prepaid, b.late_fee, b.lost_penalty, b.capped, b.total, b.from_deposit,
            b.released, b.owed)


# Defaults: ZMW deposit K100, K5/hour, cap K25/day, late K2/hour, device K350; TZS x100 (whole shillings);
# 10 free minutes, due in 24 h, 15 grace minutes, lost 3 days after the due time.
# (label, tariff, extension (hours, at hour), end) -> hours, time, prepaid, late, penalty, capped, total,
#                                                    from deposit, released, owed
TABLE = [
    ("free minutes", ZMW, None, Returned(at(0, 10)), (0, 0, 0, 0, 0, 0, 0, 0, 10000, 0)),
    ("one second past them: a started hour", ZMW, None, Returned(at(0, 10, 1)), (1, 500, 0, 0, 0, 0, 500, 500,
                                                                                  9500, 0)),
    ("3 h 10 min: 3 hours", ZMW, None, Returned(at(3, 10)), (3, 1500, 0, 0, 0, 0, 1500, 1500, 8500, 0)),
    ("3 h 10 min 1 s: 4 hours", ZMW, None, Returned(at(3, 10, 1)), (4, 2000, 0, 0, 0, 0, 2000, 2000, 8000, 0)),
    ("10 h: the daily cap", ZMW, None, Returned(at(10)), (10, 2500, 0, 0, 0, 0, 2500, 2500, 7500, 0)),
    ("at the due time", ZMW, None, Returned(at(24)), (24, 2500, 0, 0, 0, 0, 2500, 2500, 7500, 0)),
    ("end of the grace: no late fee", ZMW, None, Returned(at(24, 15)), (25, 3000, 0, 0, 0, 0, 3000, 3000, 7000, 0)),
    ("a minute late: a late hour", ZMW, None, Returned(at(24, 16)), (25, 3000, 0, 200, 0, 0, 3200, 3200, 6800, 0)),
    ("2 days late: beyond the deposit", ZMW, None, Returned(at(72)), (72, 7500, 0, 9600, 0, 0, 17100, 10000, 0,
                                                                      7100)),
    ("extended 12 h, back at 30 h", ZMW, (12, 20), Returned(at(30)), (30, 5000, 2500, 0, 0, 0, 5000, 2500, 7500,
                                                                      0)),
    ("extended 12 h, back at 1 h: no refund", ZMW, (12, 0), Returned(at(1)), (1, 500, 2500, 0, 0, 0, 2500, 0,
                                                                              10000, 0)),
    ("extended 12 h, late after it", ZMW, (12, 20), Returned(at(40)), (40, 5000, 2500, 800, 0, 0, 5800, 3300,
                                                                       6700, 0)),
    ("lost, reported at 2 h", ZMW, None, Lost(at(2)), (2, 1000, 0, 0, 34000, 0, 35000, 10000, 0, 25000)),
    ("lost, declared 3 days overdue", ZMW, None, Lost(at(96)), (96, 10000, 0, 14400, 10600, 0, 35000, 10000, 0,
                                                                25000)),
    ("back after 10 days: the device price caps it", ZMW, None, Returned(at(240)),
     (240, 25000, 0, 43200, 0, 33200, 35000, 10000, 0, 25000)),
    ("another station, 3 h 10 min: the same bill", ZMW, None, Returned(at(3, 10), station="9999"),
     (3, 1500, 0, 0, 0, 0, 1500, 1500, 8500, 0)),
    ("TZS free minutes", TZS, None, Returned(at(0, 5)), (0, 0, 0, 0, 0, 0, 0, 0, 1_000_000, 0)),
    ("TZS 3 h", TZS, None, Returned(at(3)), (3, 150_000, 0, 0, 0, 0, 150_000, 150_000, 850_000, 0)),
    ("TZS 10 h: the daily cap", TZS, None, Returned(at(10)), (10, 300_000, 0, 0, 0, 0, 300_000, 300_000, 700_000, 0)),
    ("TZS a minute late", TZS, None, Returned(at(24, 16)), (25, 350_000, 0, 20_000, 0, 0, 370_000, 370_000,
                                                            630_000, 0)),
    ("TZS extended 6 h at 23 h, back at 29 h", TZS, (6, 23), Returned(at(29)),
     (29, 550_000, 300_000, 0, 0, 0, 550_000, 250_000, 750_000, 0)),
    ("TZS lost at 2 h", TZS, None, Lost(at(2)), (2, 100_000, 0, 0, 3_400_000, 0, 3_500_000, 1_000_000, 0,
                                                 2_500_000)),
    ("TZS another station: the same bill", TZS, None, Returned(at(3), station="4021"),
     (3, 150_000, 0, 0, 0, 0, 150_000, 150_000, 850_000, 0)),
]


@pytest.mark.parametrize("label, tariff, extension, end, expected", TABLE, ids=[row[0] for row in TABLE])
def test_billing_table(label, tariff, extension, end, expected):
    b = billing.bill(tariff, rental(tariff, extension), end)
    assert figures(b) == expected
    assert b.total == max(b.time_charge, b.prepaid) + b.late_fee + b.lost_penalty - b.capped
    assert b.due_now == b.total - b.prepaid and b.lost == isinstance(end, Lost)


def test_aware_datetimes_and_epoch_seconds_bill_alike_and_naive_ones_are_refused():
    r = billing.start(ZMW, T0)
    assert billing.bill(ZMW, r, Returned(T0 + timedelta(hours=3))) == billing.bill(ZMW, r, Returned(at(3)))
    lusaka = T0.astimezone(timezone(timedelta(hours=2)))
    assert billing.start(ZMW, lusaka) == r
    with pytest.raises(ValueError):
        billing.start(ZMW, T0.replace(tzinfo=None))
    with pytest.raises(TypeError):
        Returned(1.5)
    with pytest.raises(ValueError):
        Rental(at(5), at(1))


def test_a_station_clock_behind_ours_cannot_make_a_negative_rental():
    assert figures(billing.bill(ZMW, rental(ZMW), Returned(at(-5)))) == (0, 0, 0, 0, 0, 0, 0, 0, 10000, 0)


@pytest.mark.parametrize("hours, now, problem", [(0, 1, "hours"), (25, 1, "hours"), (-1, 1, "hours"),
                                                 (2, 24 * 60 + 15, "late"), (2, 30 * 60, "late")])
def test_an_extension_the_rules_refuse(hours, now, problem):
    with pytest.raises(BadExtension, match=problem):
        billing.extend(ZMW, rental(ZMW), hours, at(0, now))


def test_an_extension_never_pushes_prepaid_past_the_most_a_tariff_amount_may_be():
    r = replace(rental(ZMW), prepaid=MOST_MINOR - 2000)
    assert billing.extend(ZMW, r, 4, at(1)).rental.prepaid == MOST_MINOR
    with pytest.raises(BadExtension, match="most"):
        billing.extend(ZMW, r, 5, at(1))


def test_an_extension_moves_the_due_time_and_adds_up_what_it_paid():
    first = billing.extend(ZMW, rental(ZMW), 3, at(23, 59))
    assert (first.price, first.rental.due_at, first.rental.prepaid) == (1500, at(27), 1500)
    second = billing.extend(ZMW, first.rental, 24, at(24, 14))     # still in the grace: allowed, capped at a day
    assert (second.price, second.rental.due_at, second.rental.prepaid) == (2500, at(51), 4000)


def test_reminders_of_the_default_tariff():
    r = rental(ZMW)
    found = [(x.kind, (x.at - START) // MINUTE) for x in billing.reminders(ZMW, r)]
    assert found == [(DUE_SOON, 24 * 60 - 15), (OVERDUE, 24 * 60 + 15), (OVERDUE, 48 * 60 + 15),
                     (FINAL, 72 * 60), (LOST, 96 * 60)]
    assert not billing.is_lost(ZMW, r, at(95, 59, 59)) and billing.is_lost(ZMW, r, at(96))
    later = billing.extend(ZMW, r, 5, at(1)).rental
    assert billing.reminders(ZMW, r)[0] not in billing.reminders(ZMW, later)    # an old job sends nothing


# -- properties --------------------------------------------------------------------------------------------

@st.composite
def tariffs_(draw) -> Tariff:
    currency = draw(st.sampled_from(["ZMW", "TZS"]))
    unit = 100 if currency == "TZS" else 1
    top = MOST_MINOR // unit
    per_hour = draw(st.integers(1, top // 100))
    cap = draw(st.integers(per_hour, top // 10))
    device = draw(st.integers(1, top))
    hours = draw(st.integers(1, 168))
    return Tariff(currency, deposit=draw(st.integers(0, device)) * unit, per_hour=per_hour * unit,
                  free_minutes=draw(st.integers(0, min(120, hours * 60 - 1))), daily_cap=cap * unit,
                  grace_minutes=draw(st.integers(0, 120)), late_per_hour=draw(st.integers(0, top // 100)) * unit,
                  device_price=device * unit, max_extension_hours=draw(st.integers(1, 168)), hours=hours,
                  remind_minutes=draw(st.integers(0, 120)), lost_after_days=draw(st.integers(1, 90)))


@st.composite
def rentals_(draw, tariff: Tariff) -> Rental:
    """Started at T0, extended 0-3 times, each before its late fees started."""
    r = billing.start(tariff, T0)
    for _ in range(draw(st.integers(0, 3))):
        hours = draw(st.integers(1, tariff.max_extension_hours))
        now = draw(st.integers(r.started_at, billing.late_from(tariff, r.due_at) - 1))
        try:
            r = billing.extend(tariff, r, hours, now).rental
        except BadExtension:                  # "most": prepaid would pass MOST_MINOR
            break
    return r


spans = st.integers(-HOUR, 400 * DAY)


@settings(max_examples=400, deadline=None)
@given(st.data(), spans)
def test_the_bill_adds_up_and_settles_the_deposit_exactly(data, span):
    tariff = data.draw(tariffs_())
    r = data.draw(rentals_(tariff))
    for end in (Returned(START + span), Lost(START + span)):
        b = billing.bill(tariff, r, end)
        assert all(type(v) is int and v >= 0 for v in figures(b))
        assert b.total == max(b.time_charge, b.prepaid) + b.late_fee + b.lost_penalty - b.capped
        assert b.total <= billing.ceiling(tariff, r) <= tariff.deposit + tariff.device_price + r.prepaid
        assert b.from_deposit + b.released == tariff.deposit and b.from_deposit + b.owed == b.total - b.prepaid
        if b.total - b.prepaid <= tariff.deposit:
            assert b.owed == 0 and b.released == tariff.deposit - (b.total - b.prepaid)
        if tariff.currency == "TZS":
            assert all(v % 100 == 0 for v in figures(b)[1:])          # whole shillings, every line


@settings(max_examples=400, deadline=None)
@given(st.data(), spans, spans)
def test_a_later_return_never_costs_less(data, one, two):
    tariff = data.draw(tariffs_())
    r = data.draw(rentals_(tariff))
    early, late = (billing.bill(tariff, r, Returned(START + s)) for s in sorted((one, two)))
    assert early.total <= late.total and early.owed <= late.owed and early.released >= late.released
    assert early.total <= billing.bill(tariff, r, Lost(START + max(one, two))).total


@settings(max_examples=300, deadline=None)
@given(tariffs_(), st.integers(0, 120 * MINUTE))
def test_a_return_inside_the_free_minutes_costs_nothing(tariff, span):
    assume(span <= tariff.free_minutes * MINUTE)
    b = billing.bill(tariff, billing.start(tariff, T0), Returned(START + span))
    assert (b.total, b.released, b.owed) == (0, tariff.deposit, 0)


@settings(max_examples=400, deadline=None)
@given(tariffs_(), st.integers(0, 400 * DAY))
def test_the_daily_cap_holds_for_every_duration(tariff, span):
    hours, charge = billing.time_charge(tariff, span)
    days = -(-span // DAY)
    assert charge <= tariff.daily_cap * days and charge <= tariff.per_hour * hours
    assert hours <= -(-span // HOUR)


@settings(max_examples=300, deadline=None)
@given(st.data(), spans, spans)
def test_lost_is_charged_once_at_the_ceiling_whenever_it_is_declared(data, one, two):
    tariff = data.draw(tariffs_())
    r = data.draw(rentals_(tariff))
    first, again = billing.bill(tariff, r, Lost(START + one)), billing.bill(tariff, r, Lost(START + one))
    other = billing.bill(tariff, r, Lost(START + two))
    assert first == again
    assert first.total == other.total == billing.ceiling(tariff, r) and first.owed == other.owed
    assert first.from_deposit == tariff.deposit or first.total - first.prepaid < tariff.deposit
    assert first.lost_penalty <= tariff.device_price


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_reminders_come_in_order_and_end_with_lost(data):
    tariff = data.draw(tariffs_())
    r = data.draw(rentals_(tariff))
    found = billing.reminders(tariff, r)
    times = [x.at for x in found]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert found[-1] == billing.Reminder(LOST, billing.lost_at(tariff, r.due_at))
    assert found[-2].kind == FINAL and all(x.at > r.started_at for x in found)
    assert all(x.at >= billing.late_from(tariff, r.due_at) for x in found if x.kind == OVERDUE)


# -- settings ----------------------------------------------------------------------------------------------

def test_the_default_tariffs():
    assert set(tariffs(Settings())) == {"ZMW", "TZS"}
    assert (ZMW.deposit, ZMW.per_hour, ZMW.daily_cap, ZMW.late_per_hour, ZMW.device_price) == (
        10000, 500, 2500, 200, 35000)
    assert (ZMW.free_minutes, ZMW.hours, ZMW.grace_minutes, ZMW.lost_after_days) == (10, 24, 15, 3)
    with pytest.raises(NoTariff):
        tariff_for(Settings(), "KES")


def test_an_operator_sets_only_what_differs():
    s = Settings.from_env({"RENTAL_TARIFFS": "tzs:hour=60000, KES:deposit=5000,KES:hour=1000,KES:cap=5000,"
                                             "KES:late=500,KES:device=20000",
                           "RENTAL_FREE_MINUTES": "5", "RENTAL_LOST_AFTER_DAYS": "7"})
    tz = tariff_for(s, "TZS")
    assert (tz.per_hour, tz.deposit, tz.free_minutes, tz.lost_after_days) == (60000, 1_000_000, 5, 7)
    assert tariff_for(s, "KES").device_price == 20000
    assert s.worker_env()["RENTAL_TARIFFS"].startswith("tzs:hour=60000")


@pytest.mark.parametrize("raw", ["TZS:hour=5.5", "TZS:hours=500", "TZS=500", "KES:hour=100", "ZMW:cap=-1"])
def test_a_bad_tariff_setting_stops_the_start_with_its_name(raw):
    with pytest.raises(SystemExit, match="RENTAL_TARIFFS"):
        Settings.from_env({"RENTAL_TARIFFS": raw})
    with pytest.raises(ValueError):
        rental_prices(raw)


@pytest.mark.parametrize("change, problem", [
    (dict(per_hour=0), "price per hour"), (dict(daily_cap=100), "daily cap"), (dict(deposit=50000), "deposit"),
    (dict(free_minutes=24 * 60), "minutes"), (dict(hours=0), "at least 1"), (dict(device_price=10**9), "above"),
    (dict(per_hour=True), "whole number"), (dict(hours=200), "168"),
])
def test_a_tariff_that_cannot_be_billed_is_refused(change, problem):
    with pytest.raises(ValueError, match=problem):
        replace(ZMW, **change)
    with pytest.raises(ValueError, match="whole units"):
        replace(TZS, per_hour=50_050)


# -- texts -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Renter:
    currency: str
    country: str


LONGEST_STATION = "Kalingalinga Market 2"[:texts.STATION_NAME_MAX]


def extreme(currency: str) -> Tariff:
    most = MOST_MINOR - MOST_MINOR % 100
    return Tariff(currency, deposit=most, per_hour=most, free_minutes=120, daily_cap=most, grace_minutes=120,
                  late_per_hour=most, device_price=most, max_extension_hours=168, hours=168, lost_after_days=90)


def extreme_bills(currency: str) -> list[billing.Bill]:
    most = MOST_MINOR - MOST_MINOR % 100
    worst = billing.Bill(currency, False, 9999 * 60 + 59, 9999, most, 0, 9999, most, 0, 0, most, most, most, most,
                         most)
    return [worst, replace(worst, owed=0), replace(worst, lost=True), replace(worst, lost=True, owed=0)]


def rendered(currency: str) -> list[tuple[str, str, int]]:
    """(what, text, budget in septets) at the extremes, in the current language."""
    renter = Renter(currency, "TZ" if currency == "TZS" else "ZM")
    most = MOST_MINOR - MOST_MINOR % 100
    found = [("terms", texts.terms_text(extreme(currency), LONGEST_STATION), texts.TERMS_SEPTETS),
             ("terms owed", texts.owed_terms_text(extreme(currency), LONGEST_STATION, most), texts.TERMS_SEPTETS),
             ("debts paid", texts.debts_paid_text(renter, 999_999_999, most, currency), 160)]
    for b in extreme_bills(currency):
        found.append(("receipt", texts.receipt_text(renter, b, LONGEST_STATION, T0, 999_999_999), 160))
        found.append(("lost", texts.lost_text(renter, b, 999_999_999), 160))
    b, most = extreme_bills(currency)[0], MOST_MINOR - MOST_MINOR % 100
    for what, back, owed in (("found back", most, 0), ("found owed", 0, most), ("found even", 0, 0)):
        found.append((what, texts.found_text(renter, b, LONGEST_STATION, T0, 999_999_999, back, owed), 160))
    tariff, r = extreme(currency), Rental(START, START + 168 * HOUR, prepaid=0)
    found.append(("due soon", texts.due_soon_text(renter, tariff, r, 999_999_999), 160))
    found.append(("overdue", texts.overdue_text(renter, tariff, extreme_bills(currency)[0], 999_999_999), 160))
    found.append(("final", texts.final_text(renter, tariff, r, 999_999_999), 160))
    return found


@pytest.mark.parametrize("code", sorted(i18n.LANGUAGES))
@pytest.mark.parametrize("currency", ["ZMW", "TZS"])
def test_every_text_fits_its_budget_in_every_language_at_the_extremes(code, currency):
    with i18n.language(code):
        for what, text, budget in rendered(currency):
            assert is_gsm7(text), (what, non_gsm7(text))
            assert septets(text) <= budget and segment(text).count == 1, (what, septets(text), text)
            assert "{" not in text and "999,999" in text
            if code != "en":
                with i18n.language("en"):
                    english = dict((w, t) for w, t, _ in rendered(currency))
                assert text != english[what], f"{what} not translated"


def test_the_texts_say_the_figures():
    renter = Renter("ZMW", "ZM")
    assert texts.terms_text(ZMW, "Soweto Market") == (
        "Soweto Market: deposit K100.00. K5.00/hour after 10 free min, max K25.00/day. Late after 24h: K2.00/hour.")
    b = billing.bill(ZMW, rental(ZMW), Returned(at(3, 10), station="4021"))
    assert texts.receipt_text(renter, b, "Kalingalinga Market 2 (east gate)", at(3, 10), 42) == (
        "Enerlectra R42: power bank returned at Kalingalinga Market 13:10. Used 3:10, cost K15.00, deposit back "
        "K85.00.")
    late = billing.bill(ZMW, rental(ZMW), Returned(at(72)))
    assert "K171.00: deposit and K71.00 from wallet" in texts.receipt_text(renter, late, "Soweto", at(72), 7)
    r = rental(ZMW)
    assert texts.due_soon_text(renter, ZMW, r, 42) == (
        "Enerlectra R42: please return your power bank by 10:00 at any station. Late fee after that: K2.00/hour.")
    assert texts.overdue_text(renter, ZMW, billing.so_far(ZMW, r, at(26)), 42) == (
        "Enerlectra R42: your power bank is overdue. Cost so far K39.00, plus K2.00 each hour. Return it at any "
        "station.")
    assert texts.final_text(renter, ZMW, r, 42) == (
        "Enerlectra R42: return your power bank by 10/12 10:00, else it is declared lost and you pay K350.00 in "
        "all.")
    lost = billing.bill(TZS, rental(TZS), Lost(at(2)))
    with i18n.language("sw"):
        assert texts.lost_text(Renter("TZS", "TZ"), lost, 9) == (
            "Enerlectra R9: power bank imehesabiwa kupotea. Gharama TSh 35,000: amana TSh 10,000 imetumika, "
            "TSh 25,000 kutoka pochi.")


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(0, 400 * DAY), st.text("ABCXYZ abcxyz-'", max_size=40))
def test_any_bill_of_any_tariff_fits_one_sms_in_every_language(data, span, station):
    tariff = data.draw(tariffs_())
    r = data.draw(rentals_(tariff))
    renter = Renter(tariff.currency, "TZ" if tariff.currency == "TZS" else "ZM")
    returned, lost = billing.bill(tariff, r, Returned(START + span)), billing.bill(tariff, r, Lost(START + span))
    for code in i18n.LANGUAGES:
        with i18n.language(code):
            for text in (texts.receipt_text(renter, returned, station, START + span, 999_999_999),
                         texts.lost_text(renter, lost, 999_999_999)):
                assert is_gsm7(text) and segment(text).count == 1, text
            assert septets(texts.terms_text(tariff, station)) <= texts.TERMS_SEPTETS
            for text in (texts.due_soon_text(renter, tariff, r, 1), texts.overdue_text(renter, tariff, returned, 1),
                         texts.final_text(renter, tariff, r, 1)):
                assert is_gsm7(text) and segment(text).count == 1, text
