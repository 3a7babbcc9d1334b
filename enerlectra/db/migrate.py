"""Alembic, driven from code: `enerlectra db upgrade`, serve on embedded SQLite, and tests.

Importing Alembic (with the SQL dialects, Mako and Pygments it pulls in) costs about 0.2 s of CPU, a fifth
of `serve`'s cold start; on a restart the embedded database is almost always at head already. So `upgrade`
to head first reads the head off the migration files' `revision = ...` lines and the database's
alembic_version row with the standard library, and imports Alembic only when they differ (or when the
files are not one plain chain, or the database is not SQLite: then Alembic decides, as before).
"""
from __future__ import annotations

import ast
import asyncio
import re
import sqlite3
from importlib import resources
from urllib.parse import quote, unquote, urlsplit

_ASSIGNMENT = re.compile(r"^(revision|down_revision|branch_labels|depends_on)\s*(?::[^=\n]*)?=\s*(.+?)\s*$",
                         re.MULTILINE)


def alembic_config(url: str, schema: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("enerlectra") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if schema:
        cfg.set_main_option("schema", schema)
    return cfg


def head_revision() -> str | None:
    """The head of the migration files when they form one plain chain (no branches, labels or
    dependencies), read without Alembic; None when they do not (let Alembic work it out)."""
    revisions, parents = set(), set()
    for path in (resources.files("enerlectra") / "migrations" / "versions").iterdir():
        if not path.name.endswith(".py"):
            continue
        try:
            found = {name: ast.literal_eval(value) for name, value in _ASSIGNMENT.findall(path.read_text())}
        except (ValueError, SyntaxError):
            return None
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)) \
                or found.get("branch_labels") or found.get("depends_on") or revision in revisions:
            return None
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def sqlite_revisions(url: str) -> set[str] | None:
    """The alembic_version rows of a SQLite database file, read only (None: not a SQLite file URL, no such
    file, or no such table: Alembic decides)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("sqlite") or not parts.path.startswith("/") or parts.query:
        return None
    path = unquote(parts.path[1:])                 # sqlite:///relative, sqlite:////absolute
    if not path or path == ":memory:":
        return None
    try:
        with sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True) as conn:
            return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.Error:
        return None


def at_head(url: str) -> bool:
    """The database is a SQLite file already at the migration files' one head."""
    head = head_revision()
    return head is not None and sqlite_revisions(url) == {head}


def upgrade(url: str, revision: str = "head", schema: str | None = None) -> None:
    """Blocking; env.py runs its own event loop, so call it outside one (or via upgrade_async)."""
    if revision == "head" and schema is None and at_head(url):
        return                                     # nothing to do: no need to import Alembic to learn it
    from alembic import command

    command.upgrade(alembic_config(url, schema), revision)


def downgrade(url: str, revision: str, schema: str | None = None) -> None:
    from alembic import command

    command.downgrade(alembic_config(url, schema), revision)


async def upgrade_async(url: str, revision: str = "head", schema: str | None = None) -> None:
    await asyncio.to_thread(upgrade, url, revision, schema)
