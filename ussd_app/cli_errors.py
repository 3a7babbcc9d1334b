"""What an operator sees when a CLI command cannot do its work: one line on stderr, never a traceback.

Exit 2: the command line itself is wrong (a number not in E.164, an amount, a file, a revision);
argparse answers those it can check before anything runs. Exit 1: the command was fine, the world was
not (no such user or payment, the database unreachable or not upgraded).
"""
from __future__ import annotations

import argparse
import re
import socket
import sys

E164_HINT = "use E.164 like +260971234567 (Zambia) or +255754123456 (Tanzania)"
MAX_DAYS = 3650


class BadArgument(Exception):
    """An argument only the command can judge (an amount in the user's currency): exit 2."""


def msisdn(text: str) -> str:
    """argparse type: a served number in E.164, as the database stores it."""
    from enerlectra.domain.phone import InvalidMsisdn, UnsupportedCountry, parse_msisdn

    if not text.strip().startswith("+"):
        raise argparse.ArgumentTypeError(f"{text!r}: {E164_HINT}")
    try:
        return parse_msisdn(text).e164
    except (InvalidMsisdn, UnsupportedCountry) as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {E164_HINT}") from None


def whole(low: int, high: int):
    """argparse type: a whole number within [low, high] (a --limit, --days, Wh)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: a whole number from {low} to {high}")
        return value
    parse.__name__ = "whole number"          # what argparse names in its own messages
    return parse


def positive(high: float):
    """argparse type: a number of seconds above zero, at most `high`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds above 0, at most {high:g}") from None
        if not 0 < value <= high:       # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds above 0, at most {high:g}")
        return value
    parse.__name__ = "number of seconds"
    return parse


def run(func, args: argparse.Namespace) -> int:
    """Run a command; known failures become one line on stderr and an exit code."""
    try:
        return func(args)
    except BadArgument as exc:
        return _say(str(exc), 2)
    except Exception as exc:                 # noqa: BLE001 -- only the families below are answered here
        line = (_url_line(exc) or _redis_line(exc) or _database_line(exc) or _file_line(exc)
                or _alembic_line(exc) or _os_line(exc))
        if line is None:
            raise
        return _say(*line)


def _say(line: str, code: int) -> int:
    print(f"enerlectra: {line}", file=sys.stderr)
    return code


def _database_url() -> str:
    from enerlectra.redact import redact_url
    from enerlectra.settings import Settings

    return redact_url(Settings.from_env().effective_database_url)


def _database_line(exc: Exception) -> tuple[str, int] | None:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        missing = re.search(r"no such table|relation .* does not exist|unable to open database file", reason)
        hint = "; run `enerlectra db upgrade` first" if missing else ""
        return f"database {_database_url()}: {reason}{hint}", 1
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):        # asyncpg's connect
        return f"{exc or type(exc).__name__} (the database is {_database_url()})", 1
    return None


SUPPORTED_DATABASES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _url_line(exc: Exception) -> tuple[str, int] | None:
    """DATABASE_URL that SQLAlchemy cannot parse, or whose driver we do not ship."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = _database_url()
    if isinstance(exc, (ArgumentError, NoSuchModuleError)) or (
            isinstance(exc, ModuleNotFoundError) and not url.startswith(SUPPORTED_DATABASES)):
        return (f"DATABASE_URL {url}: {str(exc).splitlines()[0]}; use sqlite+aiosqlite:///PATH or "
                f"postgresql+asyncpg://USER@HOST/DB"), 2
    return None


def _redis_line(exc: Exception) -> tuple[str, int] | None:
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisSlow

    if isinstance(exc, (RedisDown, RedisSlow)):
        from enerlectra.redact import redact_url
        from enerlectra.settings import Settings

        return f"Redis {redact_url(Settings.from_env().redis_url or 'embedded')}: {exc}", 1
    return None


def _os_line(exc: Exception) -> tuple[str, int] | None:
    """Anything else the system refused (a port in use): its own words."""
    return (str(exc) or type(exc).__name__, 1) if isinstance(exc, OSError) else None


def _file_line(exc: Exception) -> tuple[str, int] | None:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}", 2
    return None


def _alembic_line(exc: Exception) -> tuple[str, int] | None:
    from alembic.util.exc import CommandError

    if isinstance(exc, CommandError):
        return f"db upgrade: {exc}", 2
    return None
