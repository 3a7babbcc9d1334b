"""The invariants checked after every step: what must hold whatever the users, the aggregator and the faults did.

Each check reads SQL (on one snapshot) or what the world observed, and returns the problems it finds as
sentences; an empty list is a pass. They are the oracle: exact replies are not, since concurrent steps may
interleave differently from run to run.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from enerlectra.db.models import (Account, Cluster, JournalEntry, MarketOrder, Membership, Meter,
                                  MeterReading, Payment, User)
from enerlectra.domain import ledger
from enerlectra.domain.clusters import members as clubs
from enerlectra.domain.market import book, rules
from payments.lifecycle import OPEN
from payments.providers.base import PAYOUT
from payments.service import Limits
from tests.simulation.world import World


async def check(world: World) -> list[str]:
    """Every invariant on one snapshot of the books, then what the world saw (replies, statuses, intents)."""
    async with world.db() as s:
        if s.bind.dialect.name == "postgresql":
            await s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        problems = [f"ledger verify: {p}" for p in await ledger.verify(s)]
        problems += [f"escrow: {p}" for p in await book.check_escrow(s, rules.from_settings(world.settings))]
        problems += await conservation(s) + await floors(s) + await holds(s) + await settled_once(s)
        problems += await pools(s) + await meters_bounded(s, world)
        problems += await daily_limits(s, world) + await pins_bounded(s, world) + await once_per_intent(s, world)
    seen, world.seen.violations = world.seen.violations, []
    return problems + sent_once(world) + seen


async def conservation(s) -> list[str]:
    """Double entry: the balances of all accounts sum to zero per asset."""
    rows = (await s.execute(select(Account.asset, func.sum(Account.balance)).group_by(Account.asset))).all()
    return [f"conservation: {asset} sums to {int(total)}" for asset, total in rows if total != 0]


async def floors(s) -> list[str]:
    rows = (await s.execute(select(Account.code, Account.balance).where(
        Account.balance < 0, Account.allow_negative.is_(False)))).all()
    return [f"floor: {code} is {balance}" for code, balance in rows]


async def holds(s) -> list[str]:
    """The holds account holds exactly the open payouts (amount + fee), per currency."""
    held = dict((await s.execute(select(Account.asset, Account.balance).where(
        Account.code.like("system:holds:%")))).all())
    open_ = dict((await s.execute(select(Payment.currency, func.sum(Payment.amount + Payment.fee)).where(
        Payment.direction == PAYOUT, Payment.state.in_(OPEN)).group_by(Payment.currency))).all())
    return [f"holds: {cur} holds {held.get(cur, 0)}, open payouts need {open_.get(cur, 0)}"
            for cur in set(held) | set(open_) if held.get(cur, 0) != open_.get(cur, 0)]


async def settled_once(s) -> list[str]:
    """Each payment's ledger entries agree with its state: settled at most once, a payout held once and
    released only when it failed."""
    keys = set((await s.scalars(select(JournalEntry.idempotency_key).where(
        JournalEntry.idempotency_key.like("pay:%")))).all())
    problems = []
    for ref, direction, state in (await s.execute(select(Payment.reference, Payment.direction, Payment.state))).all():
        has = {step for step in ("hold", "settle", "release") if f"pay:{ref}:{step}" in keys}
        want = {"settle"} if state == "succeeded" else set()
        if direction == PAYOUT:
            want |= {"hold"} | ({"release"} if state in ("failed", "expired") else set())
        if has != want:
            problems.append(f"payment {ref[:8]} {direction} {state}: ledger has {sorted(has)}, "
                            f"wants {sorted(want)}")
    return problems


async def pools(s) -> list[str]:
    """Each cluster's pool holds what its members gave minus what it paid out (or holds for a payout)."""
    given = dict((await s.execute(select(Membership.cluster_id, func.sum(Membership.contributed))
                                  .group_by(Membership.cluster_id))).all())
    problems = []
    for cluster in (await s.scalars(select(Cluster))).all():
        code = clubs.pool_code(cluster)
        held = await s.scalar(select(Account.balance).where(Account.code == code)) or 0
        paid = await s.scalar(select(func.coalesce(func.sum(Payment.amount + Payment.fee), 0)).where(
            Payment.funding == code, Payment.state.not_in(("failed", "expired"))))
        if held != given.get(cluster.id, 0) - paid:
            problems.append(f"pool: cluster {cluster.id} holds {held}, "
                            f"given {given.get(cluster.id, 0)} - paid {paid}")
    return problems


async def meters_bounded(s, world: World) -> list[str]:
    """A meter never credits more than its export register rose since registration, nor debits more than its
    import rose, nor more than the per-reading cap at once."""
    cap = world.settings.meter_max_wh_per_reading
    problems = []
    for meter in (await s.scalars(select(Meter))).all():
        base = await s.scalar(select(MeterReading).where(MeterReading.meter_id == meter.id,
                                                         MeterReading.status == "baseline"))
        credited, debited, biggest = (await s.execute(select(
            func.coalesce(func.sum(MeterReading.credited_wh), 0), func.coalesce(func.sum(MeterReading.debited_wh), 0),
            func.coalesce(func.max(MeterReading.credited_wh), 0)).where(MeterReading.meter_id == meter.id))).one()
        if credited > meter.last_export_wh - base.export_wh or debited > meter.last_import_wh - base.import_wh:
            problems.append(f"meter {meter.number}: credited {credited} / debited {debited} Wh, registers rose "
                            f"{meter.last_export_wh - base.export_wh} / {meter.last_import_wh - base.import_wh}")
        if biggest > cap:
            problems.append(f"meter {meter.number}: one reading credited {biggest} Wh > {cap}")
    return problems


def sent_once(world: World) -> list[str]:
    """Each payment reference reached its provider at most once."""
    return [f"{name}: reference {ref[:8]} submitted {n} times" for name, fake in world.fakes.items()
            for ref, n in fake.submits.items() if n > 1]


async def daily_limits(s, world: World) -> list[str]:
    """Per user and direction, today's payments (not failed or expired; a pool's payout counts for its
    proposer) stay within the daily limit."""
    today = world.now().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (await s.execute(select(Payment.user_id, Payment.currency, Payment.direction, func.sum(Payment.amount))
                            .where(Payment.created_at >= today, Payment.state.not_in(("failed", "expired")))
                            .group_by(Payment.user_id, Payment.currency, Payment.direction))).all()
    limits = Limits.from_settings(world.settings)
    return [f"daily limit: user {uid} {direction} {int(total)} > {limits.day(currency)} {currency}"
            for uid, currency, direction, total in rows if total > limits.day(currency)]


async def pins_bounded(s, world: World) -> list[str]:
    worst = await s.scalar(select(func.max(User.pin_failures)))
    top = world.settings.pin_max_failures
    return [f"PIN failures counted {worst} > {top}"] if worst is not None and worst > top else []


async def once_per_intent(s, world: World) -> list[str]:
    """No more payments, transfers or orders than the distinct money hops and YES messages that asked."""
    made = {"payment": await s.scalar(select(func.count()).select_from(Payment).where(Payment.purpose.is_(None))),
            "transfer": await s.scalar(select(func.count()).select_from(JournalEntry).where(
                JournalEntry.kind == "transfer")),
            "order": await s.scalar(select(func.count()).select_from(MarketOrder)),
            "contribution": await s.scalar(select(func.count()).select_from(JournalEntry).where(
                JournalEntry.kind == "contribution"))}
    asked = world.seen.intents
    return [f"{made[k]} {k}s from {asked[k]} money hops" for k in made if made[k] > asked[k]]


async def balances(world: World) -> dict[str, int]:
    """Every account's balance by code (the final state a replay must reproduce)."""
    async with world.db() as s:
        return dict((await s.execute(select(Account.code, Account.balance).order_by(Account.code))).all())


def by_kind(problems: list[str]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = defaultdict(list)
    for p in problems:
        kinds[p.split(":")[0]].append(p)
    return dict(kinds)
