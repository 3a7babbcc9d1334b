"""Secrets hidden before anything is logged or stored: passwords in URLs, PINs in USSD input, the webhook
token in request paths. `****` (a PIN) or `***` (a password, as SQLAlchemy writes it) stands in for each.

Every function here is pure; the callers decide what is stored (africastalking.events, sms.inbound) and
what is logged (the start-up line, `db upgrade`, the access log).
"""
from __future__ import annotations

import re

MASK = "****"                  # a hidden PIN or token
PASSWORD_MASK = "***"          # a hidden password, as make_url(...).render_as_string(hide_password=True) shows it

_PIN_SHAPE = re.compile(r"[0-9]{4}")                     # enerlectra.domain.pin_code.PIN_LENGTH ASCII digits
# scheme://user:password@rest: the password runs to the last "@", so one holding "@", "/" or "?" is hidden whole.
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*:)(?P<password>.*)@(?P<rest>[^@]*)$",
                       re.DOTALL)
# Drivers also take secrets as query parameters (redis `?password=`, asyncpg `?password=`, our `?token=`).
_SECRET_PARAM = re.compile(r"(?P<key>[?&](?:password|passwd|pass|pwd|token|secret|api_key|apikey)=)[^&#]*",
                           re.IGNORECASE)
_CALLBACK_TOKEN = re.compile(r"(?P<head>/callback/)[^/]+")
# /ussd/<aggregator>/<token>: an aggregator may carry its secret in the path (AT's /events is a route, not one)
_USSD_TOKEN = re.compile(r"(?P<head>^/ussd/[^/]+/)(?!events$)[^/]+$")


def redact_url(url: str | None) -> str:
    """`url` fit for a log line: the password of any scheme (postgresql+asyncpg, redis, rediss, mqtt, http)
    and any password or token query parameter replaced by `***`. None (not configured) reads "-"."""
    if not url:
        return "-"
    userinfo = _USERINFO.match(url)
    if userinfo and userinfo.group("password"):
        url = f"{userinfo.group('head')}{PASSWORD_MASK}@{userinfo.group('rest')}"
    return _SECRET_PARAM.sub(lambda m: m.group("key") + PASSWORD_MASK, url)


def mask_input(path: str, secret_positions: set[int] | None) -> str:
    """A `*`-joined USSD input with the parts at `secret_positions` (0-based) replaced by `****`.

    None means the menu engine did not say which steps asked for a PIN: then every part shaped like a PIN
    (exactly four digits) is masked, which also hides some amounts but never a PIN. Empty parts stay empty.
    """
    parts = path.split("*")

    def secret(index: int, part: str) -> bool:
        if not part:
            return False
        if secret_positions is None:
            return _PIN_SHAPE.fullmatch(part.strip()) is not None
        return index in secret_positions
    return "*".join(MASK if secret(i, part) else part for i, part in enumerate(parts))


def mask_pin_runs(text: str) -> str:
    """Every standalone run of four digits (a PIN typed somewhere we did not expect it) becomes `****`."""
    return re.sub(r"(?<![0-9])[0-9]{4}(?![0-9])", MASK, text)


def mask_msisdn(msisdn: str) -> str:
    """A phone number fit for a page others see: '+260971234567' -> '+26097****567' (country, network and the
    last three digits, enough for support to match what a caller reads out)."""
    if len(msisdn) < 10:
        return MASK
    return f"{msisdn[:6]}{MASK}{msisdn[-3:]}"


def redact_path(path: str) -> str:
    """A request path fit for the access log: the token of `/payments/<provider>/callback/<token>` and of
    `/ussd/<aggregator>/<token>` hidden. (The query string, where `?token=` travels, is never logged at all:
    see ussd_app.access_log.)"""
    path = _CALLBACK_TOKEN.sub(lambda m: m.group("head") + MASK, path)
    return _USSD_TOKEN.sub(lambda m: m.group("head") + MASK, path)
