"""The one clock: aware UTC. Modules import `now` by name, so a test can set one module's time."""
from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)
