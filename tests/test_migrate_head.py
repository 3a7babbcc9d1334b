"""`upgrade` to head skips Alembic when the database is there already: the shortcut must agree with Alembic."""
from __future__ import annotations

import sqlite3

import pytest
from alembic.script import ScriptDirectory

from enerlectra.db import migrate


def test_the_head_read_off_the_files_is_alembics():
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert migrate.head_revision() == scripts.get_current_head()


def test_a_fresh_file_is_migrated_then_seen_at_head_and_a_downgraded_one_is_not(tmp_path):
    db = tmp_path / "a dir" / "enerlectra.db"       # a space: the read-only URI must quote the path
    db.parent.mkdir()
    url = f"sqlite+aiosqlite:///{db}"
    assert not migrate.at_head(url)                  # no file yet
    migrate.upgrade(url)                             # a fresh home still gets every migration
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "journal_entries", "alembic_version"} <= tables
    assert migrate.at_head(url) and migrate.at_head(f"sqlite:///{db}")
    migrate.downgrade(url, "0013")
    assert migrate.sqlite_revisions(url) == {"0013"} and not migrate.at_head(url)
    migrate.upgrade(url)
    assert migrate.sqlite_revisions(url) == {migrate.head_revision()}


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u@h/db", "sqlite://", "sqlite:///:memory:",
                                 "sqlite+aiosqlite:///missing.db?mode=ro"])
def test_other_databases_are_left_to_alembic(url):
    assert migrate.sqlite_revisions(url) is None and not migrate.at_head(url)
