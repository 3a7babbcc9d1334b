"""The key of the ledger's MAC chain, kept outside the database so that whoever can edit the tables
cannot seal a forged entry.

`LEDGER_KEY` (Settings.ledger_key) when set; otherwise `ENERLECTRA_HOME/ledger.key` (mode 0600), generated
once on the embedded database and read back after, so the web processes, the workers and the CLI of one
installation share it. In front of an external database the key is never made up: boxes sharing a database
must share its key. The key is never logged; `fingerprint` names it safely.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from enerlectra.settings import Settings

FILE_NAME = "ledger.key"
MIN_LENGTH = 32            # characters of LEDGER_KEY; the generated key is 64 hex digits

log = logging.getLogger(__name__)


class BadKey(Exception):
    pass


def load(settings: Settings) -> bytes:
    """The key this installation seals its ledger with."""
    if settings.ledger_key:
        if len(settings.ledger_key) < MIN_LENGTH:
            raise BadKey(f"LEDGER_KEY must be at least {MIN_LENGTH} characters")
        return settings.ledger_key.encode()
    path = settings.home / FILE_NAME
    if not settings.is_embedded_db and not path.exists():
        # Boxes sharing one database must share one key: making one up per box would seal with many.
        raise BadKey(f"set LEDGER_KEY (or put the installation's key in {path}): the database is shared")
    return _from_file(path)


def _from_file(path: Path) -> bytes:
    if not path.exists():
        _create(path)
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by others than its owner: chmod 600 it", path)
    key = path.read_text().strip()
    if len(key) < MIN_LENGTH:
        raise BadKey(f"{path} holds no key (at least {MIN_LENGTH} characters)")
    return key.encode()


def _create(path: Path) -> None:
    """Write a new key whole, then link it into place: processes starting together (web, worker) never
    read a half-written file, and the first link wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
            log.info("generated a ledger key in %s: back it up, the ledger cannot be verified without it", path)
        except FileExistsError:
            pass            # another process made it first: use theirs
    finally:
        tmp.unlink()


def fingerprint(key: bytes) -> str:
    """Names a key without revealing it (for messages such as "sealed with another key")."""
    return hmac.new(key, b"enerlectra ledger key fingerprint", hashlib.sha256).hexdigest()[:12]
