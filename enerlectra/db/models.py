"""SQLAlchemy 2 models. Relationships, when they come, use lazy="raise": no hidden I/O."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, MetaData,
                        String, Text, UniqueConstraint, false, func, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """DateTime(timezone=True) that binds an aware time as UTC, in writes and in comparisons alike. SQLite keeps
    no offset: an aware local time (an offer "until tonight" at Lusaka's midnight) was stored as its wall time
    and read back as UTC, 2 h late (3 h in Dar es Salaam). PostgreSQL converted it already; naive times are
    UTC throughout the code and pass as they are."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    # ids never reused (migration 0023): a PIN is bound to its user's id (pin_code.bind_to_user)
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(16), unique=True)          # E.164, +260971234567
    country: Mapped[str] = mapped_column(String(2))                       # ZM / TZ
    currency: Mapped[str] = mapped_column(String(3))                      # ZMW / TZS
    language: Mapped[str] = mapped_column(String(3))                      # en / bem / nya / sw
    name: Mapped[str] = mapped_column(String(40))
    pin_hash: Mapped[str] = mapped_column(String(200))
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # STOP / START
    pin_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")   # wrong PINs in a row
    pin_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sms_pin_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # YES 1234
    # After support reset the PIN: money actions wait until then (PIN_RESET_HOLD_HOURS).
    pin_reset_hold_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # indexed (migration 0017): the console's new users per period (enerlectra/reports/overview.py)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now(), index=True)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), server_default=func.now(), onupdate=func.now())


class UssdSessionEvent(Base):
    """Africa's Talking end-of-session notification, kept for analytics (one row per session)."""

    __tablename__ = "ussd_session_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    msisdn: Mapped[str] = mapped_column(String(20))
    service_code: Mapped[str] = mapped_column(String(40), default="")
    network_code: Mapped[str] = mapped_column(String(10), default="")
    status: Mapped[str] = mapped_column(String(20))                       # Success / Incomplete / Failed
    cost_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    cost_amount: Mapped[str | None] = mapped_column(String(20), nullable=True)  # decimal text, as sent
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hops: Mapped[int | None] = mapped_column(Integer, nullable=True)
    input: Mapped[str] = mapped_column(Text, default="")
    last_response: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class SmsOutbox(Base):
    """One SMS to one number. Written in the same transaction as the change it reports; a worker sends it.

    status: queued -> sending -> sent -> delivered | failed; suppressed (opted out, not essential).
    """

    __tablename__ = "sms_outbox"
    # The console's SMS figures per period read this index alone (migration 0017; enerlectra/reports/overview.py):
    # a plain created_at index made SQLite fetch each row, 2x slower than a scan over two months of SMS.
    # The worker claims queued rows in (bulk, id) order from a partial index of the queued rows (migration 0019):
    # a broadcast of 100,000 never delays an OTP or a receipt written after it.
    __table_args__ = (Index("ix_sms_outbox_period", "created_at", "status", "segments", "cost"),
                      Index("ix_sms_outbox_due", "status", "bulk", "id", sqlite_where=text("status = 'queued'"),
                            postgresql_where=text("status = 'queued'")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(16), index=True)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))                        # welcome, reply, receipt ...
    essential: Mapped[bool] = mapped_column(Boolean, default=False)      # goes out even after STOP
    bulk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())   # a broadcast: sent last
    status: Mapped[str] = mapped_column(String(12), index=True)
    encoding: Mapped[str] = mapped_column(String(5))                     # GSM-7 / UCS-2
    segments: Mapped[int] = mapped_column(Integer)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True, nullable=True)
    gateway: Mapped[str | None] = mapped_column(String(20), nullable=True)
    gateway_message_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    cost: Mapped[str | None] = mapped_column(String(32), nullable=True)  # as the gateway says: "ZMW 0.3000"
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)           # sends tried (claims)
    dispatches: Mapped[int] = mapped_column(Integer, default=1)         # jobs enqueued; part of the job id
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), server_default=func.now(), onupdate=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SmsInbound(Base):
    """An SMS a user sent us, stored once per aggregator id."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(100), unique=True)      # AT's `id`
    msisdn: Mapped[str] = mapped_column(String(16))
    to_code: Mapped[str] = mapped_column(String(20), default="")
    text: Mapped[str] = mapped_column(Text)
    link_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    network_code: Mapped[str] = mapped_column(String(10), default="")
    command: Mapped[str] = mapped_column(String(20))                        # help, lang, ... or unknown
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("sms_outbox.id"), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Account(Base):
    """A ledger account. `balance` always equals the sum of its postings (ledger verify proves it)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)        # user:42:ZMW, system:fees:ZMW ...
    kind: Mapped[str] = mapped_column(String(20))                     # money, energy, fees, clearing ...
    asset: Mapped[str] = mapped_column(String(3))                     # ZMW, TZS (minor units), WH
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class JournalEntry(Base):
    """One balanced movement. `mac` seals it to the entry before it on its lane (by `seq`) under the ledger key."""

    __tablename__ = "journal_entries"
    __table_args__ = (Index("uq_journal_entries_lane_seq", "lane", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lane: Mapped[int] = mapped_column(Integer, server_default="1")     # which chain (ledger_head row) it is on
    seq: Mapped[int] = mapped_column(BigInteger, server_default="0")   # 1, 2, 3 ... per lane, no gaps
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(30))                     # transfer, deposit, credit, fee ...
    memo: Mapped[str] = mapped_column(String(200), default="")
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))                      # HMAC-SHA256 hex (ledger.sealed_content)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Posting(Base):
    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    asset: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)                   # + into the account, - out of it


class LedgerHead(Base):
    """One row per lane (id = lane): the newest entry's seq and MAC on it. A posting locks one free lane
    (SKIP LOCKED), so concurrent postings never queue behind one head; each lane is a line, not a tree."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, server_default="0")  # entries on this lane
    last_entry_id: Mapped[int] = mapped_column(Integer, default=0)
    last_mac: Mapped[str] = mapped_column(String(64))


class Payment(Base):
    """A mobile-money collection (deposit) or payout (withdrawal) and where it stands.

    state: created -> submitted -> pending -> succeeded | failed | expired; ambiguous (enquire again); review
    (a provider we cannot ask did not vouch: an operator or a signed callback settles it).
    Every state change that moves money is a ledger entry keyed by this payment's reference.
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)       # ours; MTN's X-Reference-Id
    provider: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))                    # collection / payout
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    msisdn: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)                       # what reaches the wallet / phone
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider_txn_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)               # status queries so far
    funding: Mapped[str | None] = mapped_column(String(80), nullable=True)   # a payout's source account code
    purpose: Mapped[str | None] = mapped_column(String(40), nullable=True)   # "proposal:12": who hears of it
    # What started it, as the aggregator or job resends it (a USSD hop, a proposal's payout): a repeat
    # finds this row instead of paying or prompting again.
    request_key: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), server_default=func.now(), onupdate=func.now())


class AdvisorQuestion(Base):
    """A question to the AI advisor and its answer, kept for follow-ups and usage analytics.

    status: queued -> answering -> answered | failed (an apology SMS went out).
    """

    __tablename__ = "advisor_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_key: Mapped[str] = mapped_column(String(160), unique=True)   # one row per USSD hop / inbound SMS
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    topic: Mapped[str] = mapped_column(String(20))                       # energy, trading, market, carbon, support
    source: Mapped[str] = mapped_column(String(4))                       # ussd / sms
    language: Mapped[str] = mapped_column(String(3))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)
    backend: Mapped[str | None] = mapped_column(String(10), nullable=True)   # claude / offline
    model: Mapped[str | None] = mapped_column(String(60), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)        # as sent (GSM-7, cut to fit)
    stop_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)              # jobs that claimed it
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("sms_outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Market(Base):
    """One row per currency: the lock every order of that market takes, and its last trade."""

    __tablename__ = "markets"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    last_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)   # minor units per kWh
    last_trade_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class MarketOrder(Base):
    """An offer (sell) or a bid (buy). `escrow` is what it still holds: Wh for an offer, money for a bid.

    state: open -> filled | cancelled | expired (a buy that filled at once and left nothing is 'filled').
    """

    __tablename__ = "market_orders"
    __table_args__ = (Index("ix_market_orders_book", "currency", "side", "state", "price", "id"),)   # the book

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_key: Mapped[str] = mapped_column(String(160), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    side: Mapped[str] = mapped_column(String(4))                        # buy / sell
    price: Mapped[int] = mapped_column(BigInteger)                      # minor units per kWh (the limit)
    wh: Mapped[int] = mapped_column(BigInteger)                         # asked for
    remaining_wh: Mapped[int] = mapped_column(BigInteger)
    escrow: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(10))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Trade(Base):
    """One fill: Wh from the seller's escrow to the buyer, money to the seller, the fee to the fees account."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    buy_order_id: Mapped[int] = mapped_column(ForeignKey("market_orders.id"), index=True)
    sell_order_id: Mapped[int] = mapped_column(ForeignKey("market_orders.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    price: Mapped[int] = mapped_column(BigInteger)
    wh: Mapped[int] = mapped_column(BigInteger)
    money: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class PriceAlert(Base):
    """"Tell me when kWh is below X": one SMS when an offer is listed below it, then spent."""

    __tablename__ = "price_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    below: Mapped[int] = mapped_column(BigInteger)                       # minor units per kWh
    state: Mapped[str] = mapped_column(String(8), index=True)            # active / spent
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Meter(Base):
    """A prosumer's meter, registered by an operator with its own serial and the secret its manufacturer set.

    The secret is kept only as a hash; readings carry the secret itself. The last values start as the register
    values at registration (the baseline), dated then."""

    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)          # the serial, as printed on the meter
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))                  # sha256 hex of the secret
    # cumulative, as read; None after an operator's reset_baseline: the next reading is the baseline
    last_export_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_import_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class MeterReading(Base):
    """Every reading received, once per meter and timestamp, with what it did.

    status: baseline (at registration) | credited | flagged (backwards or over a cap: an operator looks)
    received_at: when it was applied; the per-day cap counts what was credited since local midnight by it.
    """

    __tablename__ = "meter_readings"
    __table_args__ = (UniqueConstraint("meter_id", "read_at", name="uq_meter_readings_meter_id"),
                      Index("ix_meter_readings_meter_day", "meter_id", "received_at"))   # today's credits

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime())
    export_wh: Mapped[int] = mapped_column(BigInteger)
    import_wh: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), index=True)
    reason: Mapped[str | None] = mapped_column(String(80), nullable=True)
    credited_wh: Mapped[int] = mapped_column(BigInteger, default=0)
    debited_wh: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class SmsOrder(Base):
    """SELL or BUY by SMS, waiting for `YES <PIN>`. state: pending -> placed | replaced (a newer one came)."""

    __tablename__ = "sms_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    side: Mapped[str] = mapped_column(String(4))
    wh: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)                   # the limit (a buy: the quote's top price)
    state: Mapped[str] = mapped_column(String(10))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    order_id: Mapped[int | None] = mapped_column(ForeignKey("market_orders.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Cluster(Base):
    """A community energy cluster: members pool money in a ledger account and decide together."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)            # what people type to join: K7Q2M
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(14))                         # micro / neighbourhood / industrial / supply
    area: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    target: Mapped[int] = mapped_column(BigInteger)                       # contribution target per member, minor
    open: Mapped[bool] = mapped_column(Boolean, default=True)             # False: joining is a vote
    # What its members' solar displaces, for carbon figures: grid (the country's factor) / diesel / kerosene.
    carbon_baseline: Mapped[str] = mapped_column(String(10), default="grid", server_default="grid")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("cluster_id", "user_id", name="uq_memberships_cluster_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))                          # chair / member
    status: Mapped[str] = mapped_column(String(8))                        # active / left / removed
    contributed: Mapped[int] = mapped_column(BigInteger, default=0)       # minor units, all time
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Proposal(Base):
    """state: open -> passed | rejected | expired; passed -> executed | execution_failed (see clusters.lifecycle)."""

    __tablename__ = "proposals"
    __table_args__ = (Index("uq_proposals_cluster_number", "cluster_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)      # the number on ballots, per cluster: #12 (0014: old ones = id)
    request_key: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)   # the hop that opened it
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(10))                         # equipment / spend / admit / remove / target
    title: Mapped[str] = mapped_column(String(60))                        # "Buy 2 batteries"
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)   # equipment, spend, target
    payee: Mapped[str | None] = mapped_column(String(16), nullable=True)    # supplier's mobile-money number
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)   # admit / remove
    eligible: Mapped[int] = mapped_column(Integer)                        # members when it opened
    quorum: Mapped[int] = mapped_column(Integer)                          # votes needed for a decision
    deadline: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    yes: Mapped[int] = mapped_column(Integer, default=0)                  # the counts at closing
    no: Mapped[int] = mapped_column(Integer, default=0)
    payment_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Voter(Base):
    """Who may vote on a proposal: the active members when it opened (joining later does not add one)."""

    __tablename__ = "voters"

    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id", name="uq_votes_proposal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    choice: Mapped[str] = mapped_column(String(3))                        # yes / no
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class PinReset(Base):
    """A forgotten PIN: the user asks (USSD), support checks who they are and issues a one-time reset (CLI),
    the user's next dial sets a new PIN.

    state: requested -> issued -> used | expired. `open_for` is the user's id while the reset is open
    (requested or issued) and NULL after: its unique index keeps one open reset per user, whoever races.
    """

    __tablename__ = "pin_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    open_for: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    state: Mapped[str] = mapped_column(String(10), index=True)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)          # issued without the user asking
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


# -- the operator console (issue 19) -------------------------------------------------------------------


class Operator(Base):
    """Someone who runs the service from the console. role: admin / support / viewer / chair (one cluster)."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)           # lower case
    role: Mapped[str] = mapped_column(String(8))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id"), nullable=True)   # chairs only
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")   # in a row
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AuditEntry(Base):
    """One change an operator made (console or CLI), written in the transaction that made it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(120))                        # the operator's email, or "cli"
    action: Mapped[str] = mapped_column(String(40), index=True)            # payment.resolve, pin.unlock ...
    target: Mapped[str] = mapped_column(String(80), default="")            # payment:ZM-123, user:42 ...
    before: Mapped[str] = mapped_column(Text, default="")                  # JSON
    after: Mapped[str] = mapped_column(Text, default="")                   # JSON
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now(), index=True)


class UssdSession(Base):
    """How one USSD session went, written once when it ends (our END, or the aggregator's end notice).

    screens: the menu states it reached, in the order first reached, space-separated.
    end_reason: done (we ended it) / error (we ended it on a failure) / hangup / timeout (the aggregator said).
    """

    __tablename__ = "ussd_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    aggregator: Mapped[str] = mapped_column(String(16))
    msisdn: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(3))
    screens: Mapped[str] = mapped_column(Text, default="")
    last_screen: Mapped[str] = mapped_column(String(40))
    end_reason: Mapped[str] = mapped_column(String(8))
    hops: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class FunnelDaily(Base):
    """Rollup of ussd_sessions per UTC day, screen, language and country: sessions that reached the screen and
    how many ended there, by end reason. Kept by the job that writes ussd_sessions, in the same transaction."""

    __tablename__ = "funnel_daily"

    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    screen: Mapped[str] = mapped_column(String(40), primary_key=True)
    language: Mapped[str] = mapped_column(String(3), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    journey: Mapped[str] = mapped_column(String(20))                       # the screen's feature: wallet, trade ..
    reached: Mapped[int] = mapped_column(Integer, default=0)
    ended_done: Mapped[int] = mapped_column(Integer, default=0)
    ended_error: Mapped[int] = mapped_column(Integer, default=0)
    ended_hangup: Mapped[int] = mapped_column(Integer, default=0)
    ended_timeout: Mapped[int] = mapped_column(Integer, default=0)


class SessionsDaily(Base):
    """Rollup of ussd_sessions per UTC day, country and language (the overview's sessions, hops, completion)."""

    __tablename__ = "sessions_daily"

    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    language: Mapped[str] = mapped_column(String(3), primary_key=True)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    hops: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[int] = mapped_column(Integer, default=0)
    hangup: Mapped[int] = mapped_column(Integer, default=0)
    timeout: Mapped[int] = mapped_column(Integer, default=0)


class UserActivity(Base):
    """A user whose USSD session ended on a UTC day (the fold writes it): active users are distinct users here.

    prev_day: the user's active day before this one (None: the first). The users active in a period are the rows
    in it whose prev_day is before it or None -- a count over an index, not a DISTINCT (migration 0017).
    Kept by the fold (workers/analytics.py), also when a day is folded after a later one."""

    __tablename__ = "user_activity"
    __table_args__ = (Index("ix_user_activity_user_id_day", "user_id", "day"),
                      Index("ix_user_activity_day_prev_day", "day", "prev_day"))

    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prev_day: Mapped[datetime | None] = mapped_column(Date, nullable=True)


# -- power-bank stations (issue 20; protocols.md s.12) -----------------------------------------------------


class Station(Base):
    """A cabinet of slots at a shop or market. `code` is printed on it and typed by users (4 to 6 digits).

    online: the retained status / last will, and heartbeats (3 missed = offline: the link's sweep)."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    area: Mapped[str] = mapped_column(String(40), index=True)             # "Find a station" searches it
    country: Mapped[str] = mapped_column(String(2))                       # ZM / TZ
    slots: Mapped[int] = mapped_column(Integer)
    online: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    online_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    boot_id: Mapped[str | None] = mapped_column(String(40), nullable=True)   # from the last boot event
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Slot(Base):
    """One slot of a station as the last heartbeat showed it. Which bank sits in it is the bank's row
    (banks.station_id, banks.slot_n): one place holds that fact, so the two can never disagree.

    state: unknown (no heartbeat yet) / empty / charging / full / fault; fault: the station's code or None."""

    __tablename__ = "slots"

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True)              # 1 .. station.slots
    state: Mapped[str] = mapped_column(String(12), default="unknown")
    fault: Mapped[str | None] = mapped_column(String(40), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Bank(Base):
    """A power bank, by the serial on it. Where it sits (station and slot), or NULLs while it is out.

    state: available (in a slot, free to rent) / reserved (an eject request holds it) / rented (ejected to a
    renter) / missing (left its slot with no eject: an operator looks)."""

    __tablename__ = "banks"
    __table_args__ = (Index("uq_banks_place", "station_id", "slot_n", unique=True),)   # one bank per slot

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), unique=True)           # PB00012345
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), nullable=True)
    slot_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    soc: Mapped[int | None] = mapped_column(Integer, nullable=True)         # state of charge, percent
    health: Mapped[int | None] = mapped_column(Integer, nullable=True)      # battery health, percent
    state: Mapped[str] = mapped_column(String(10), default="available")
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class StationEvent(Base):
    """Every station event (evt topic) once: QoS 1 is at least once, and evt_id (sid:boot_id:seq) dedupes."""

    __tablename__ = "station_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evt_id: Mapped[str] = mapped_column(String(80), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))                          # eject_result / return / fault / boot
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StationLog(Base):
    """Faults, maintenance, alerts and incidents per station and per bank, for operators.

    kind: fault / fault_cleared / alert / incident / online / offline / boot / note (an operator's)."""

    __tablename__ = "station_log"
    # Newest first without a sort at 2,000,000 lines (0021): a station's log, each kind (the alerts list), a bank's.
    __table_args__ = (Index("ix_station_log_station_time", "station_id", "created_at", "id"),
                      Index("ix_station_log_kind_time", "kind", "created_at", "id"),
                      Index("ix_station_log_bank_newest", "bank_id", "id"))     # where a bank was last seen

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), nullable=True)
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), nullable=True)
    slot_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(14))
    detail: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(120), default="station")   # station / link / an operator
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EjectRequest(Base):
    """One eject command, stored before it is published (its req_id goes to the station and comes back).

    state: pending -> ok | failed | expired (the station refused it as too late) | unknown (no result in
    STATION_EJECT_UNKNOWN_SECONDS: inventory asked) -> ok | failed (decided from the slot)."""

    __tablename__ = "eject_requests"
    __table_args__ = (Index("ix_eject_requests_open", "state", "issued_at"),)    # the unknown sweep

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    req_id: Mapped[str] = mapped_column(String(26), unique=True)           # ULID
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    slot_n: Mapped[int] = mapped_column(Integer)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    rental_ref: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    result_evt_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    unknown_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # inventory asked
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


# -- power-bank rentals (issue 20; enerlectra/domain/rentals) ---------------------------------------------


class Rental(Base):
    """One renter's power bank, from the eject request to the return (or the loss).

    state: ejecting (deposit held, eject sent) -> active (the bank came out) -> returned | lost; ejecting ->
    cancelled (nothing came out: the deposit went back); lost -> found (the bank came back within the tariff's
    found_refund_days: billed again as a late return, rentals/found.py). `terms` is the tariff as the renter saw
    it (tariff.py's fields): a return is billed by it, whatever RENTAL_* say by then. Money moves under ledger
    keys derived from this row (rental:{id}:settle ...) or the key the renter's request carried (request_key: one
    rental per key).
    """

    __tablename__ = "rentals"
    __table_args__ = (Index("uq_rentals_open_user", "user_id", unique=True,
                            sqlite_where=text("state IN ('ejecting', 'active')"),
                            postgresql_where=text("state IN ('ejecting', 'active')")),   # one open rental each
                      Index("ix_rentals_open", "state", "due_at"),
                      # The console's keyset pages, newest first, by state, station or renter (0021).
                      Index("ix_rentals_state_newest", "state", "id"),
                      Index("ix_rentals_station_newest", "station_id", "id"),
                      Index("ix_rentals_user_newest", "user_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(12), unique=True)              # R-1234567, printed on receipts
    request_key: Mapped[str] = mapped_column(String(120), unique=True)     # the hop / SMS that asked for it
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), nullable=True, index=True)
    slot_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    req_id: Mapped[str | None] = mapped_column(String(26), nullable=True, unique=True)   # the eject request
    currency: Mapped[str] = mapped_column(String(3))
    terms: Mapped[dict] = mapped_column(JSON)                               # the Tariff shown (tariff.py)
    state: Mapped[str] = mapped_column(String(10))
    deposit: Mapped[int] = mapped_column(BigInteger)                        # held in system:rental_deposits
    prepaid: Mapped[int] = mapped_column(BigInteger, default=0)             # what extensions paid
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # returned / lost
    return_station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), nullable=True)
    bill: Mapped[dict | None] = mapped_column(JSON, nullable=True)          # billing.Bill's lines, as settled
    end_key: Mapped[str | None] = mapped_column(String(120), nullable=True, unique=True)   # the loss report's
    owed: Mapped[int] = mapped_column(BigInteger, default=0)                # billed, the wallet could not pay
    deposit_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)   # journal entries
    settle_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RentalNotice(Base):
    """A reminder sent (or a loss declared) for a rental: once per rental and kind, whoever runs the job."""

    __tablename__ = "rental_notices"
    __table_args__ = (UniqueConstraint("rental_id", "kind", name="uq_rental_notices_rental_id_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rental_id: Mapped[int] = mapped_column(ForeignKey("rentals.id"))
    kind: Mapped[str] = mapped_column(String(40))                           # due_soon:<epoch>, overdue:<epoch> ...
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
