"""user ids never reused: on SQLite, users.id becomes INTEGER PRIMARY KEY AUTOINCREMENT

A user's PIN is bound to their id (pin_code.bind_to_user, 0022). Without AUTOINCREMENT, SQLite hands the
highest id of a deleted row to the next insert, so a bound value kept from a deleted account would open the
next registration (tests/test_review_pin_binding.py). PostgreSQL's sequence never hands an id out twice:
nothing to do there.

SQLite cannot add AUTOINCREMENT in place, so the table is rebuilt. The usual recipe (copy into a new table,
drop the old, rename the new) fails here: with foreign keys on, dropping users breaks every row that points
at it, and a rename does not mend the count. So the rows are stashed in a temporary table, users dropped and
created again under its own name (foreign-key checks deferred to commit), and the rows put back: each
re-inserted user satisfies again the rows that point at it. Inserting the old ids sets sqlite_sequence to
the highest of them. Indexes are recreated from their stored SQL.

Downgrade keeps AUTOINCREMENT: the release before reads and writes the table the same way.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""
import re

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# the users DDL as 0001..0022 leave it (SQLAlchemy's rendering): the id column and the named primary key
ID_COLUMN = re.compile(r"\bid INTEGER NOT NULL,")
TABLE_KEY = re.compile(r"\s*CONSTRAINT pk_users PRIMARY KEY \(id\),")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    ddl = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").scalar()
    if "AUTOINCREMENT" in ddl:
        return
    if len(ID_COLUMN.findall(ddl)) != 1 or len(TABLE_KEY.findall(ddl)) != 1:
        raise RuntimeError(f"0023: the users table is not as 0022 left it; add AUTOINCREMENT by hand:\n{ddl}")
    new_ddl = TABLE_KEY.sub("", ID_COLUMN.sub("id INTEGER NOT NULL CONSTRAINT pk_users PRIMARY KEY AUTOINCREMENT,",
                                              ddl))
    indexes = [sql for (sql,) in bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL")]
    columns = ", ".join(f'"{name}"' for _cid, name, *_ in bind.exec_driver_sql("PRAGMA table_info(users)"))
    bind.exec_driver_sql("PRAGMA defer_foreign_keys = ON")       # until commit; resets itself then
    bind.exec_driver_sql("CREATE TEMP TABLE users_0023 AS SELECT * FROM users")
    bind.exec_driver_sql("DROP TABLE users")
    bind.exec_driver_sql(new_ddl)
    bind.exec_driver_sql(f"INSERT INTO users ({columns}) SELECT {columns} FROM users_0023")
    bind.exec_driver_sql("DROP TABLE users_0023")
    for sql in indexes:
        bind.exec_driver_sql(sql)


def downgrade() -> None:
    pass
