"""Payments: start a deposit or a withdrawal, settle on a confirmed status, reconcile what hangs.

Money moves only in `settle`, inside one transaction that locks the payment row, asks the lifecycle
machine whether the step applies, posts the ledger entry (keyed by the payment's reference) and queues
the SMS. A duplicated callback, a callback racing the reconciliation job, a retried job: the second one
finds the step already taken and changes nothing.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Awaitable, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from enerlectra import faults
from enerlectra.db.models import Account, Payment, User
from enerlectra.domain import audit, ledger, outbox
from enerlectra.domain.ledger import Leg
from enerlectra.domain.pins import aware_utc
from enerlectra.domain.work import unit_of_work
from enerlectra.i18n import in_language_of
from enerlectra.settings import PAYMENT_DAILY_LIMITS_DEFAULT, PAYMENT_LIMITS_DEFAULT, currency_amounts
from payments import routing
from payments.lifecycle import OPEN, advance
from payments.providers.base import (AMBIGUOUS, COLLECTION, FAILED, NOT_FOUND, PAYOUT, PENDING, SUCCEEDED,
                                     Callback, Order, Provider, ProviderError, Status)
from payments.texts import payment_checking_text, payment_failed_text, payment_ok_text

log = logging.getLogger(__name__)

TRIGGER = {SUCCEEDED: "succeed", FAILED: "fail", PENDING: "accepted", AMBIGUOUS: "unclear"}


class NotServed(Exception):
    """No provider is wired for this number yet."""


class NotUnderReview(Exception):
    """Only a payment under review takes an operator's word; this one is in another state (the message)."""


@dataclass(frozen=True)
class Limits:
    per_payment: int          # minor units, for a currency not in `payments`
    per_day: int              # per user, currency and direction, UTC day; failed and expired ones do not count
    payments: Mapping[str, int] = field(default_factory=dict)   # currency -> its own per-payment limit
    days: Mapping[str, int] = field(default_factory=dict)       # currency -> its own daily limit

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(settings.payment_limit_minor, settings.payment_daily_limit_minor,
                   currency_amounts(settings.payment_limits_minor, PAYMENT_LIMITS_DEFAULT),
                   currency_amounts(settings.payment_daily_limits_minor, PAYMENT_DAILY_LIMITS_DEFAULT))

    def payment(self, currency: str) -> int:
        return self.payments.get(currency, self.per_payment)

    def day(self, currency: str) -> int:
        return self.days.get(currency, self.per_day)


class OverLimit(Exception):
    def __init__(self, which: str, limit: int):
        super().__init__(f"{which} limit {limit}")
        self.which, self.limit = which, limit       # which: "payment" / "day"


@dataclass(frozen=True)
class Started:
    reference: str
    state: str
    amount: int               # what the payment moves (a repeat: the first payment's, whatever was typed now)


@dataclass(frozen=True)
class _Opened:
    payment: Payment
    fresh: bool              # False: the request's key had started this payment before


class Payments:
    def __init__(self, db: async_sessionmaker, providers: dict[str, Provider], fees: dict[tuple[str, str], int],
                 limits: Limits | None = None, db_read: async_sessionmaker | None = None):
        self.limits = limits or Limits(10**15, 10**15)
        self.db = db              # settling is a unit of work: its SMS go to the sink bound to `db` after commit
        # Reads that decide nothing under a lock (a screen's early word, what a callback names) use `db_read`: on
        # SQLite a read on `db` begins IMMEDIATE and queues with the writers (issue 18).
        self.db_read = db_read or db
        self.providers = providers
        self.fees = fees
        # A payout made for some purpose ("proposal:12") is reported by that purpose's listener, inside the
        # settling transaction, instead of the usual SMS to the payment's user: (s, payment, state) -> None.
        self.listeners: dict[str, Callable] = {}
        # May a callback for this reference make us ask the provider once more? (The web app caps it per
        # payment: a flood of callbacks must not become a flood of status queries. Reconciliation asks
        # without it.)
        self.may_ask: Callable[[str], Awaitable[bool]] = _always

    def provider_for(self, number: str, direction: str = COLLECTION) -> str | None:
        return routing.choose(number, direction, self.providers)

    def can_ask(self, provider: str) -> bool:
        """Does this provider answer status queries? (AzamPay's checkout does not: protocols.md section 9.)"""
        return self.providers[provider].can_ask

    def fee(self, provider: str, direction: str) -> int:
        return self.fees.get((provider, direction), 0)

    # -- starting --------------------------------------------------------------------------------

    async def check_limits(self, user_id: int, direction: str, amount: int, currency: str | None = None) -> None:
        """Raise OverLimit when `amount` is above the per-payment limit of `currency` (unset: the user's) or
        would pass today's (a screen's early word; `_start` checks again under the user's lock, where it counts)."""
        async with self.db_read() as s:
            currency = currency or await s.scalar(select(User.currency).where(User.id == user_id))
            await self._within_limits(s, user_id, currency, direction, amount)

    async def _within_limits(self, s, user_id: int, currency: str, direction: str, amount: int) -> None:
        most, daily = self.limits.payment(currency), self.limits.day(currency)
        if amount > most:
            raise OverLimit("payment", most)
        today = outbox.now().replace(hour=0, minute=0, second=0, microsecond=0)
        used = await s.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.user_id == user_id, Payment.currency == currency, Payment.direction == direction,
            Payment.created_at >= today, Payment.state.not_in(("failed", "expired"))))
        if used + amount > daily:
            raise OverLimit("day", daily)

    async def deposit(self, user: User, amount: int, wallet: str | None = None, *, key: str,
                      purpose: str | None = None) -> Started:
        """Collect from `wallet` (a mobile-money number the user holds; default: their own number).
        `key`: what the aggregator resends for this request; the same key again starts nothing new.
        `purpose`: what the money is for ("rent:<station>": its SMS says what to do next)."""
        return await self._start(user, COLLECTION, amount, wallet or user.msisdn, key=key, purpose=purpose)

    async def withdraw(self, user: User, amount: int, wallet: str | None = None, *, key: str) -> Started:
        """The wallet is debited into a hold at once (InsufficientFunds: nothing happens); once per `key`."""
        return await self._start(user, PAYOUT, amount, wallet or user.msisdn, key=key)

    async def pay_from(self, funding: str, user: User, payee: str, amount: int, purpose: str) -> Started:
        """A payout funded by a ledger account other than the user's wallet (a cluster's pool), reported to
        the listener of `purpose`, once per purpose. Both limits apply, the day's counted for `user` (the
        proposer): a one-member cluster is no way round the withdrawal limit."""
        return await self._start(user, PAYOUT, amount, payee, funding=funding, purpose=purpose, key=purpose)

    async def _start(self, user: User, direction: str, amount: int, wallet: str, *, key: str,
                     funding: str | None = None, purpose: str | None = None) -> Started:
        name = self.provider_for(wallet, direction)
        if name is None:
            raise NotServed(wallet)
        if faults.on("limits_outside_lock"):             # planted defect: the early word only
            await self.check_limits(user.id, direction, amount, user.currency)
        created = await self._open(user, direction, amount, wallet, name, key, funding, purpose)
        if not created.fresh:            # the same request again: what it started then, nothing new
            return Started(created.payment.reference, created.payment.state, created.payment.amount)
        faults.point("payments.after_open")         # the process dies: recorded (and held), never sent
        payment = created.payment
        charged = amount + payment.fee if direction == COLLECTION else amount
        order = Order(payment.reference, direction, wallet, user.currency, charged,
                      network=routing.network(wallet).name)
        try:
            status = await self.providers[name].submit(order)
        except ProviderError as exc:
            status = Status(AMBIGUOUS, reason=str(exc)[:64])      # enquire later; never a new reference
        return Started(payment.reference, await self.settle(payment.reference, status), payment.amount)

    async def _open(self, user: User, direction: str, amount: int, wallet: str, name: str, key: str,
                    funding: str | None, purpose: str | None) -> "_Opened":
        """Record the payment (and a payout's hold) in one transaction under the user's row lock, so the
        limits count every payment that got in before, and a repeated key finds the first payment."""
        try:
            async with unit_of_work(self.db) as s:
                # FOR NO KEY UPDATE: serialises this user's payments without blocking rows that merely refer to
                # the user (a new account's foreign key check), which made concurrent payments deadlock.
                await s.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
                seen = await s.scalar(select(Payment).where(Payment.request_key == key))
                if seen is not None:
                    return _Opened(seen, fresh=False)
                if not faults.on("limits_outside_lock"):
                    await self._within_limits(s, user.id, user.currency, direction, amount)
                payment = Payment(reference=str(uuid.uuid4()), request_key=key, provider=name, direction=direction,
                                  user_id=user.id, msisdn=wallet, currency=user.currency, amount=amount,
                                  fee=self.fee(name, direction), state="submitted", checks=0, funding=funding,
                                  purpose=purpose)
                s.add(payment)
                await s.flush()
                if direction == PAYOUT:
                    await self._hold(s, payment)
            return _Opened(payment, fresh=True)
        except IntegrityError:           # the same key at the same moment from another payer of this purpose
            async with self.db() as s:
                return _Opened(await s.scalar(select(Payment).where(Payment.request_key == key)), fresh=False)

    async def _hold(self, s, payment: Payment) -> None:
        """A payout's amount and fee move from its source (the wallet, or a pool) into the holds account."""
        await self._move_hold(s, payment, "hold", into_holds=True)

    # -- settling --------------------------------------------------------------------------------

    async def confirm(self, reference: str, provider: str | None = None) -> str:
        """Ask the provider how it stands (a callback is only a prompt), then settle on the answer."""
        async with self.db_read() as s:             # what it names never changes; `settle` locks the row
            payment = await s.scalar(select(Payment).where(Payment.reference == reference))
        if payment is None or provider not in (None, payment.provider):
            return "unknown"
        try:
            status = await self.providers[payment.provider].status(payment.direction, reference, payment.currency)
        except ProviderError as exc:
            status = Status(AMBIGUOUS, reason=str(exc)[:64])
        return await self.settle(reference, status)

    async def on_callback(self, provider: str, prompt: Callback) -> str:
        """A provider's callback: a prompt to ask, unless the provider vouched for it (a verified signature).
        A provider we cannot ask that did not vouch puts the payment up for review; so does a vouched
        success for another amount than we asked."""
        if prompt.verified:
            if prompt.claimed == SUCCEEDED and prompt.amount is not None and not await self._charged(
                    prompt.reference, prompt.amount):
                return await self.settle(prompt.reference, Status(PENDING, "AMOUNT_MISMATCH"), "review", provider)
            return await self.settle(prompt.reference, Status(prompt.claimed, prompt.reason, prompt.provider_txn_id),
                                     provider=provider)
        if self.can_ask(provider):
            if not await self.may_ask(prompt.reference):     # asked enough: the reconciliation job asks later
                return await self.state_of(prompt.reference, provider)
            return await self.confirm(prompt.reference, provider)
        return await self.settle(prompt.reference, Status(PENDING, f"UNSIGNED {prompt.claimed}"), "review", provider)

    async def state_of(self, reference: str, provider: str | None = None) -> str:
        """The payment's state as we hold it, asking nobody ("unknown": no such payment of `provider`'s)."""
        async with self.db_read() as s:
            payment = await s.scalar(select(Payment).where(Payment.reference == reference))
        return "unknown" if payment is None or provider not in (None, payment.provider) else payment.state

    async def resolve(self, reference: str, paid: bool, actor: audit.Actor = audit.CLI) -> str:
        """An operator's word on a payment under review (checked against the provider's statement), audited as
        payment.resolve in the settling transaction. NotUnderReview: the payment is unknown or settled already
        (checked under the row's lock, so of two resolves at once one settles and the other changes nothing)."""
        return await self.settle(reference, Status(SUCCEEDED if paid else FAILED, "OPERATOR"), resolver=actor)

    async def under_review(self, limit: int = 50) -> list[Payment]:
        """Payments waiting for an operator's word, oldest first."""
        async with self.db_read() as s:
            return list((await s.scalars(select(Payment).where(Payment.state == "review")
                                         .order_by(Payment.id).limit(limit))).all())

    async def _charged(self, reference: str, amount: int) -> bool:
        async with self.db_read() as s:
            payment = await s.scalar(select(Payment).where(Payment.reference == reference))
        if payment is None:
            return True                       # settle answers "unknown"
        expected = payment.amount + payment.fee if payment.direction == COLLECTION else payment.amount
        return amount == expected

    async def settle(self, reference: str, status: Status, trigger: str | None = None,
                     provider: str | None = None, resolver: audit.Actor | None = None) -> str:
        """Take the step `status` calls for, once. Returns the payment's state afterwards ("unknown" when
        there is no such payment, or it is not `provider`'s). `resolver`: an operator settling a payment
        under review (`resolve`)."""
        trigger = trigger or TRIGGER.get(status.status)
        async with unit_of_work(self.db) as s:
            payment = await s.scalar(select(Payment).where(Payment.reference == reference).with_for_update())
            if payment is None or provider not in (None, payment.provider):
                if resolver is not None:
                    raise NotUnderReview("unknown")
                return "unknown"
            if resolver is not None and payment.state != "review":
                raise NotUnderReview(payment.state)
            new = advance(payment.state, trigger, payment.direction) if trigger else None
            payment.checks += 1
            if new is None:
                return payment.state
            user = await s.get(User, payment.user_id)
            listener = self.listeners.get((payment.purpose or "").split(":")[0])
            if listener is not None:
                if new == "succeeded":
                    await self._post_success(s, payment)
                elif new in ("failed", "expired"):
                    await self._release(s, payment)
                if new != "review":
                    await listener(s, payment, new)
            elif new == "succeeded":
                await self._post_success(s, payment)
                faults.point("payments.settle.after_post")
                await outbox.add(s, user.msisdn, in_language_of(user, payment_ok_text, payment, user),
                                 "payment", essential=True, dedupe_key=f"pay:{reference}:ok")
            elif new in ("failed", "expired"):
                if payment.direction == PAYOUT:
                    await self._release(s, payment)
                reason = "EXPIRED" if new == "expired" else status.reason
                await outbox.add(s, user.msisdn, in_language_of(user, payment_failed_text, payment, reason),
                                 "payment", essential=True, dedupe_key=f"pay:{reference}:failed")
            elif new == "review":
                await outbox.add(s, user.msisdn, in_language_of(user, payment_checking_text, payment),
                                 "payment", essential=True, dedupe_key=f"pay:{reference}:review")
            if resolver is not None:
                audit.record(s, resolver, "payment.resolve", f"payment:{reference}",
                             before={"state": payment.state, "reason": payment.reason},
                             after={"state": new, "outcome": "paid" if new == "succeeded" else "unpaid"})
            payment.state = new
            payment.reason = (status.reason or payment.reason or "")[:64] or None
            payment.provider_txn_id = status.provider_txn_id or payment.provider_txn_id
        return new

    async def _post_success(self, s, payment: Payment) -> None:
        clearing = await ledger.system(s, f"clearing:{payment.provider}", payment.currency)
        fees = await ledger.system(s, "fees", payment.currency)
        total = payment.amount + payment.fee
        if payment.direction == COLLECTION:      # the phone paid amount + fee into our provider account
            wallet = await ledger.user_money(s, payment.user_id, payment.currency)
            legs = [Leg(clearing.id, -total), Leg(wallet.id, payment.amount), Leg(fees.id, payment.fee)]
        else:                                    # the hold pays the phone and the fee
            holds = await ledger.system(s, "holds", payment.currency)
            legs = [Leg(holds.id, -total), Leg(clearing.id, payment.amount), Leg(fees.id, payment.fee)]
        await ledger.post(s, f"pay:{payment.reference}:settle", f"{payment.direction}", legs, memo=payment.provider)

    @staticmethod
    async def _source(s, funding: str | None, user_id: int, currency: str):
        """The account a payout is held from and released back to: the user's wallet unless `funding`."""
        if funding is None:
            return await ledger.user_money(s, user_id, currency)
        return await s.scalar(select(Account).where(Account.code == funding))

    async def _release(self, s, payment: Payment) -> None:
        """A failed payout's hold goes back to where it came from."""
        await self._move_hold(s, payment, "release", into_holds=False)

    async def _move_hold(self, s, payment: Payment, step: str, *, into_holds: bool) -> None:
        source = await self._source(s, payment.funding, payment.user_id, payment.currency)
        holds = await ledger.system(s, "holds", payment.currency)
        total = payment.amount + payment.fee
        moved = total if into_holds else -total
        await ledger.post(s, f"pay:{payment.reference}:{step}", f"payout-{step}",
                          [Leg(source.id, -moved), Leg(holds.id, moved)], memo=payment.provider)

    # -- reconciling -----------------------------------------------------------------------------

    async def reconcile(self, older_than: timedelta, expire_after: timedelta) -> dict[str, int]:
        """Ask about every open payment untouched for `older_than`; give up on those past `expire_after`
        that the provider still calls pending or never saw (a payout is released only if never seen).
        A provider we cannot ask has nothing to say: past `expire_after` its payment goes up for review
        (the money may have moved); payments under review wait for an operator or a signed callback."""
        cutoff, too_old = outbox.now() - older_than, outbox.now() - expire_after
        async with self.db() as s:
            open_ = (await s.execute(select(Payment.reference, Payment.provider, Payment.direction,
                                            Payment.created_at)
                                     .where(Payment.state.in_(OPEN), Payment.state != "review",
                                            Payment.updated_at < cutoff))).all()
        counts: dict[str, int] = {}
        for reference, provider, direction, created in open_:
            state = await self._reconcile_isolated(reference, provider, direction, aware_utc(created) < too_old)
            counts[state] = counts.get(state, 0) + 1
        return counts

    async def _reconcile_isolated(self, reference: str, provider: str, direction: str, too_old: bool) -> str:
        """One payment's reconciliation; whatever goes wrong with it (a provider this process lacks, a bug)
        costs that payment one log line and a later try, never the others' turn."""
        if provider not in self.providers and not too_old:
            log.warning("payment %s: provider %s is not configured in this process; skipped (configure it as "
                        "for serve)", reference, provider)
            return "unconfigured"
        try:
            return await self._reconcile_one(reference, provider, direction, too_old)
        except Exception as exc:  # noqa: BLE001 - isolate each payment; the next run tries it again
            log.error("payment %s: reconciliation failed, skipped: %s: %s", reference, type(exc).__name__,
                      str(exc)[:200])
            return "error"

    async def _reconcile_one(self, reference: str, provider: str, direction: str, too_old: bool) -> str:
        if provider not in self.providers or not self.can_ask(provider):
            if too_old:                # nobody here can ask: an operator settles it from the statement
                return await self.settle(reference, Status(PENDING, "NO_ANSWER"), trigger="review")
            return "waiting"
        state = await self.confirm(reference)
        if state in OPEN and too_old:
            status = await self._last_word(reference)
            if direction == COLLECTION or status.status == NOT_FOUND:
                state = await self.settle(reference, status, trigger="expire")
        return state

    async def _last_word(self, reference: str) -> Status:
        async with self.db() as s:
            payment = await s.scalar(select(Payment).where(Payment.reference == reference))
        try:
            return await self.providers[payment.provider].status(payment.direction, reference, payment.currency)
        except ProviderError:
            return Status(AMBIGUOUS)


async def _always(reference: str) -> bool:
    return True


def parse_fees(raw: str) -> dict[tuple[str, str], int]:
    """PAYMENT_FEES="mtn:collection=0,mtn:payout=250" -> {("mtn", "payout"): 250, ...} (minor units)."""
    fees: dict[tuple[str, str], int] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = item.partition("=")
        provider, _, direction = key.partition(":")
        fees[(provider.strip(), direction.strip())] = int(value)
    return fees
