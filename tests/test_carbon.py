"""Carbon avoided (issue 19) as tables: who delivered what, on which baseline, in which period; the CARBON
keyword in every language through the SMS webhook; the cluster summary's CO2 line (SMS and USSD).

The world: trades made by the real order book (each once, to its seller; the buyer delivered nothing),
meter readings through meters.record (only credited export counts: baselines and flags do not), clusters
on grid, diesel and kerosene baselines. Times are moved only where a period boundary is the point."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from enerlectra.db.models import Cluster, Membership, SmsOutbox, Trade, User
from enerlectra.domain import ledger, meters, users, wallet
from enerlectra.domain.clusters import members as clubs
from enerlectra.domain.market import book
from enerlectra.domain.market import texts as market_texts
from enerlectra.domain.market.rules import from_settings
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.work import unit_of_work
from enerlectra.reports import carbon
from enerlectra.reports.carbon import ALL_TIME, Factors, Period
from enerlectra.settings import Settings, grams_per_kwh
from tests.helpers import AtPhone
from tests.test_sms_webhooks import sms
from ussd_app import appkeys

T = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)        # the world's trades and first readings
HOUR = timedelta(hours=1)
SECRET = "K7QX-93MP-ZT4A"
WIDE = meters.Limits(10**9, 10**9, 10**9, timedelta(days=3650))   # caps out of the way: the figures are the point
FACTORS = Factors({"ZM": 334, "TZ": 458}, {"diesel": 800, "kerosene": 1200})

ZM_SELLER, ZM_BUYER, TZ_SELLER, TZ_BUYER = "+260971960001", "+260971960002", "+255712960003", "+255712960004"
DIESEL, KEROSENE = "+260971960005", "+255712960006"


async def add_user(db, msisdn: str, name: str, language: str = "en") -> User:
    return await users.register(db, parse_msisdn(msisdn), name, language, pin_hash="not-used")


async def trade(db, settings, seller: User, buyer: User, wh: int, price: int, at: datetime) -> None:
    """A real fill: the seller's offer, the buyer's bid at its price; then dated `at`."""
    await wallet.credit(db, f"test:e:{seller.id}:{at}", seller, ledger.ENERGY, wh, "test")
    await wallet.credit(db, f"test:m:{buyer.id}:{at}", buyer, buyer.currency, wh * price, "test")
    rules, messages = from_settings(settings), market_texts.messages()
    async with unit_of_work(db) as s:
        await book.place(s, f"test:sell:{seller.id}:{at}", seller, book.SELL, wh, price, rules, messages)
        placed = await book.place(s, f"test:buy:{buyer.id}:{at}", buyer, book.BUY, wh, price, rules, messages)
        assert [t.wh for t in placed.trades] == [wh]
        await s.execute(update(Trade).where(Trade.id == placed.trades[0].id).values(created_at=at))


async def meter(db, owner: User, serial: str, at: datetime, readings: list[tuple[int, datetime]]) -> list[str]:
    """Register at `at` with export 0, then each (export register, when); the statuses they got."""
    async with unit_of_work(db) as s:
        await meters.register(s, owner, serial, SECRET, 0, 0, now=at)
    done = []
    for export_wh, when in readings:
        async with unit_of_work(db) as s:
            done.append((await meters.record(s, meters.Reading(serial, export_wh, 0, when), SECRET, WIDE,
                                             now=when)).status)
    return done


async def cluster(db, chair: User, name: str, baseline: str, joined: datetime, *others: User) -> Cluster:
    async with unit_of_work(db) as s:
        made = await clubs.create(s, chair, name, "micro", "Kabwe", 10_000, True)
        for member in others:
            await clubs.add_member(s, made, member)
        made.carbon_baseline = baseline
        await s.execute(update(Membership).where(Membership.cluster_id == made.id).values(joined_at=joined))
    return made


@pytest.fixture
async def world(client):
    db, settings = client.app[appkeys.DB], client.app[appkeys.SETTINGS]
    people = {n: await add_user(db, n, name) for n, name in (
        (ZM_SELLER, "Bwalya"), (ZM_BUYER, "Mutale"), (TZ_SELLER, "Neema"), (TZ_BUYER, "Baraka"),
        (DIESEL, "Chanda"), (KEROSENE, "Amani"))}
    await trade(db, settings, people[ZM_SELLER], people[ZM_BUYER], 2_000, 150, T)
    await trade(db, settings, people[TZ_SELLER], people[TZ_BUYER], 1_000, 50_000, T)
    # credited 3,000; then backwards (flagged) and a plausible one after it: only credited export counts
    assert await meter(db, people[ZM_SELLER], "MTR-ZM-1", T - HOUR, [(3_000, T + HOUR), (1_000, T + 2 * HOUR)]) \
        == ["credited", "flagged"]
    # 1,000 before joining the diesel cluster (the user's own figure only), 10,000 as a member
    assert await meter(db, people[DIESEL], "MTR-DSL-1", T - 3 * 24 * HOUR,
                       [(1_000, T - 2 * 24 * HOUR), (11_000, T)]) == ["credited", "credited"]
    assert await meter(db, people[KEROSENE], "MTR-KER-1", T - HOUR, [(4_000, T)]) == ["credited"]
    clusters = {"grid": await cluster(db, people[ZM_SELLER], "Kabwe Grid", "grid", T - 24 * HOUR),
                "diesel": await cluster(db, people[DIESEL], "Mkushi Diesel", "diesel", T - 24 * HOUR),
                "kerosene": await cluster(db, people[KEROSENE], "Kigoma Taa", "kerosene", T - 24 * HOUR)}
    return people, clusters


@dataclass
class Figure:
    label: str
    who: str                  # a number: that user's figure
    period: Period
    wh: int
    grams: int
    basis: str


FIGURES = [
    Figure("ZM grid, metered: credited export only (the kWh it sold are that export), not the flagged reading",
           ZM_SELLER, ALL_TIME, 3_000, 1_002, "grid ZM 334 g/kWh"),
    Figure("TZ grid, no meter: its sale, on its own factor", TZ_SELLER, ALL_TIME, 1_000, 458, "grid TZ 458 g/kWh"),
    Figure("a buyer delivered nothing (each trade counted once, to its seller)", ZM_BUYER, ALL_TIME, 0, 0,
           "grid ZM 334 g/kWh"),
    Figure("diesel cluster member: all their export, on the cluster's baseline", DIESEL, ALL_TIME,
           11_000, 8_800, "diesel 800 g/kWh"),
    Figure("kerosene cluster member", KEROSENE, ALL_TIME, 4_000, 4_800, "kerosene 1200 g/kWh"),
    Figure("a period includes its start", ZM_SELLER, Period(T + HOUR, T + 2 * HOUR), 3_000, 1_002,
           "grid ZM 334 g/kWh"),
    Figure("a period excludes its end", ZM_SELLER, Period(T, T + HOUR), 0, 0,
           "grid ZM 334 g/kWh"),
    Figure("open-ended since", ZM_SELLER, Period(since=T + timedelta(seconds=1)), 3_000, 1_002,
           "grid ZM 334 g/kWh"),
    Figure("open-ended until", DIESEL, Period(until=T), 1_000, 800, "diesel 800 g/kWh"),
]


@pytest.mark.parametrize("case", FIGURES, ids=[c.label for c in FIGURES])
async def test_a_users_figure(client, world, case: Figure):
    people, _clusters = world
    async with client.app[appkeys.DB]() as s:
        got = await carbon.of_user(s, FACTORS, people[case.who], case.period)
    assert (got.wh, got.grams, got.basis) == (case.wh, case.grams, case.basis)


async def test_per_user_per_cluster_per_country(client, world):
    people, clusters = world
    async with client.app[appkeys.DB]() as s:
        ranked = await carbon.per_user(s, FACTORS)
        by_cluster = await carbon.per_cluster(s, FACTORS)
        by_country = await carbon.per_country(s, FACTORS)
        kerosene_this_period = await carbon.of_cluster(s, FACTORS, clusters["kerosene"], Period(until=T))
    assert [(msisdn, fig.wh, fig.grams) for _id, _name, msisdn, fig in ranked] == [
        (DIESEL, 11_000, 8_800), (KEROSENE, 4_000, 4_800), (ZM_SELLER, 3_000, 1_002), (TZ_SELLER, 1_000, 458)]
    # a cluster counts its members' deliveries while members: not the diesel member's 1,000 from before
    assert {c.id: (by_cluster[c.id].wh, by_cluster[c.id].grams, by_cluster[c.id].basis)
            for c in clusters.values()} == {
        clusters["grid"].id: (3_000, 1_002, "grid ZM 334 g/kWh"),
        clusters["diesel"].id: (10_000, 8_000, "diesel 800 g/kWh"),
        clusters["kerosene"].id: (4_000, 4_800, "kerosene 1200 g/kWh")}
    assert (kerosene_this_period.wh, kerosene_this_period.basis) == (0, "-")
    assert {c: (t.wh, t.grams, t.basis) for c, t in by_country.items()} == {
        "ZM": (14_000, 9_802, "diesel 800 g/kWh; grid ZM 334 g/kWh"),
        "TZ": (5_000, 5_258, "grid TZ 458 g/kWh; kerosene 1200 g/kWh")}


@pytest.mark.parametrize("grams, shown", [(0, "0 g"), (999, "999 g"), (1_000, "1.0 kg"), (1_670, "1.6 kg"),
                                          (999_999, "999.9 kg"), (1_000_000, "1.00 t"),
                                          (12_345_678_901, "12,345.67 t")])
def test_format_co2_rounds_down(grams, shown):
    assert carbon.format_co2(grams) == shown


@pytest.mark.parametrize("raw, table", [("ZM=0.334,TZ=0.458", {"ZM": 334, "TZ": 458}),
                                        (" diesel=0.8 , kerosene=2 ", {"diesel": 800, "kerosene": 2000}),
                                        ("", {})])
def test_factors_are_whole_grams_per_kwh(raw, table):
    assert grams_per_kwh(raw) == table


@pytest.mark.parametrize("raw", ["ZM=0.3345", "ZM", "=0.3", "ZM=abc", "ZM=-0.1"])
def test_a_bad_factor_stops_the_start_with_one_line(raw):
    with pytest.raises(SystemExit, match="CARBON_GRID_FACTORS"):
        Settings.from_env({"CARBON_GRID_FACTORS": raw})


def test_default_factors_are_protocols_13():
    factors = Factors.from_settings(Settings.from_env({}))
    assert (factors.grid, factors.offgrid) == ({"ZM": 334, "TZ": 458}, {"diesel": 800, "kerosene": 800})


@pytest.mark.parametrize("when, country, start", [
    (datetime(2026, 11, 30, 22, 30, tzinfo=timezone.utc), "ZM", datetime(2026, 11, 30, 22, tzinfo=timezone.utc)),
    (datetime(2026, 11, 30, 21, 59, tzinfo=timezone.utc), "ZM", datetime(2026, 10, 31, 22, tzinfo=timezone.utc)),
    (datetime(2026, 12, 6, 10, tzinfo=timezone.utc), "TZ", datetime(2026, 11, 30, 21, tzinfo=timezone.utc))])
def test_this_month_is_the_users_local_month(when, country, start):
    assert carbon.month_start(when, country) == start


# -- CARBON by SMS --------------------------------------------------------------------------------

KEYWORDS = [   # (language, what they send, a fragment of the reply in their language)
    ("en", "CARBON", "Enerlectra: you delivered 2.5 kWh of solar power, 835 g CO2 avoided (grid). This month: "
                     "0.5 kWh, 167 g."),
    ("bem", "kaboni", "mwapeela 2.5 kWh ya kasuba, CO2 835 g iyacingililwa (gridi). Uyu mweshi: 0.5 kWh, 167 g."),
    ("nya", "Kaboni", "mwapereka 2.5 kWh ya dzuwa, CO2 835 g yopewedwa (gridi). Mwezi uno: 0.5 kWh, 167 g."),
    ("sw", "KABONI", "umetoa 2.5 kWh za umeme wa jua, CO2 835 g imeepukwa (gridi). Mwezi huu: 0.5 kWh, 167 g."),
    ("en", "carbon", "you delivered 2.5 kWh"),
]


@pytest.mark.parametrize("language, text, reply", KEYWORDS, ids=[f"{k[0]}-{k[1]}" for k in KEYWORDS])
async def test_carbon_keyword_in_every_language(client, language, text, reply):
    db, settings = client.app[appkeys.DB], client.app[appkeys.SETTINGS]
    me, buyer = await add_user(db, ZM_SELLER, "Bwalya", language), await add_user(db, ZM_BUYER, "Mutale")
    now = datetime.now(timezone.utc)
    await trade(db, settings, me, buyer, 2_000, 150, now - timedelta(days=400))     # all time only
    await trade(db, settings, me, buyer, 500, 150, now)                               # this month too
    resp = await client.post("/sms/africastalking/inbound", data=sms(text, sender=ZM_SELLER, provider_id="c1"))
    assert resp.status == 200
    body, segments = await _reply(client, ZM_SELLER)
    assert reply in body and segments == 1, body


async def test_carbon_keyword_from_an_unregistered_number(client):
    resp = await client.post("/sms/africastalking/inbound", data=sms("CARBON", sender="+260961960099"))
    assert resp.status == 200
    body, _segments = await _reply(client, "+260961960099")
    assert "Dial *123# to join" in body


async def _reply(client, msisdn: str) -> tuple[str, int]:
    async with client.app[appkeys.DB]() as s:
        row = await s.scalar(select(SmsOutbox).where(SmsOutbox.msisdn == msisdn, SmsOutbox.kind.like("reply:%"))
                             .order_by(SmsOutbox.id.desc()).limit(1))
    return row.body, row.segments


# -- the cluster summary ----------------------------------------------------------------------------

@pytest.mark.parametrize("member, line", [(ZM_SELLER, "CO2 avoided: 1.0 kg."),
                                          (DIESEL, "CO2 avoided vs diesel: 8.0 kg."),
                                          (KEROSENE, "CO2 iliyoepukwa badala ya mafuta ya taa: 3.2 kg.")])
async def test_cluster_summary_sms_names_the_baseline_off_the_grid(client, world, member, line):
    people, _clusters = world
    if member == KEROSENE:
        await users.set_language(client.app[appkeys.DB], people[member].id, "sw")
    resp = await client.post("/sms/africastalking/inbound", data=sms("CLUSTER", sender=member, provider_id="k1"))
    assert resp.status == 200
    body, _segments = await _reply(client, member)
    assert body.endswith(line), body


async def test_the_cluster_screen_leaves_carbon_to_the_sms(client, world):
    """The USSD screen sums no history on a hop (it would grow with every reading): CLUSTER by SMS says it."""
    phone = AtPhone(client, DIESEL)
    await phone.dial()
    screen = await phone.press("6")
    assert "Mkushi Diesel" in screen and "CO2" not in screen, screen


async def test_a_member_who_left_counts_for_the_cluster_only_while_a_member(client, world):
    people, clusters = world
    async with client.app[appkeys.DB]() as s, s.begin():       # left an hour before their 10,000 Wh reading
        await s.execute(update(Membership).where(Membership.user_id == people[DIESEL].id)
                        .values(status="left", left_at=T - HOUR))
    async with client.app[appkeys.DB]() as s:
        theirs = await carbon.of_user(s, FACTORS, people[DIESEL])
        cluster_now = await carbon.of_cluster(s, FACTORS, clusters["diesel"])
    assert (theirs.wh, theirs.grams, theirs.basis) == (11_000, 3_674, "grid ZM 334 g/kWh")   # no cluster now
    assert (cluster_now.wh, cluster_now.grams) == (0, 0)


async def test_carbon_keyword_names_an_off_grid_baseline(client, world):
    resp = await client.post("/sms/africastalking/inbound", data=sms("CARBON", sender=DIESEL, provider_id="d1"))
    assert resp.status == 200
    body, _segments = await _reply(client, DIESEL)
    assert "you delivered 11.0 kWh of solar power, 8.8 kg CO2 avoided (diesel)" in body, body
