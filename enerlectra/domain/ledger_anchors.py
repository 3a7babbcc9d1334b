"""Anchors written down outside the database without an operator: the worker appends the chain's head to
`ENERLECTRA_HOME/ledger.anchors` every tick, and `ledger verify` checks that the chain still passes through the
newest one. Removing entries from the end (and fixing the head row to match) is caught this way: no chain kept
inside the database alone can catch it. An operator's own `ledger anchor` lines, kept elsewhere, still do more.
"""
from __future__ import annotations

import os
from pathlib import Path

from enerlectra.domain.ledger import Anchor

FILE_NAME = "ledger.anchors"


def record(home: Path, anchor: Anchor) -> None:
    """Append the anchor (only when the head moved: the file grows with the ledger, not with time)."""
    if latest(home) == anchor:
        return
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(f"{anchor}\n")


def latest(home: Path) -> Anchor | None:
    """The newest anchor recorded in this home, if any."""
    path = home / FILE_NAME
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    try:
        return Anchor.parse(lines[-1]) if lines else None
    except ValueError:
        return None
