"""Alembic, driven from code: `enerlectra db upgrade`, serve on embedded SQLite, and tests."""
from __future__ import annotations

import asyncio
from importlib import resources

from alembic import command
from alembic.config import Config


def alembic_config(url: str, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("enerlectra") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if schema:
        cfg.set_main_option("schema", schema)
    return cfg


def upgrade(url: str, revision: str = "head", schema: str | None = None) -> None:
    """Blocking; env.py runs its own event loop, so call it outside one (or via upgrade_async)."""
    command.upgrade(alembic_config(url, schema), revision)


def downgrade(url: str, revision: str, schema: str | None = None) -> None:
    command.downgrade(alembic_config(url, schema), revision)


async def upgrade_async(url: str, revision: str = "head", schema: str | None = None) -> None:
    await asyncio.to_thread(upgrade, url, revision, schema)
