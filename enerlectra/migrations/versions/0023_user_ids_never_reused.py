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
the highest of them; then it is raised above every id a row still points at (a user deleted with foreign keys
off left them: that id was handed out). Indexes are recreated from their stored SQL.

With foreign keys on, the drop deletes row by row and each re-insert looks for the rows pointing at it, in
every table that points at users; where that column has no index (trades.buyer_id, ...) each look is a
scan of the whole table: 4,000 users and 40,000 trades took 23 s, and it grows as their product. So each
such column gets an index for the rebuild only (dropped after): the same took 0.01 s.

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
    ddl = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'"
                               ).scalar()
    if "AUTOINCREMENT" in ddl:
        return
    if len(ID_COLUMN.findall(ddl)) != 1 or len(TABLE_KEY.findall(ddl)) != 1:
        raise RuntimeError(f"0023: the users table is not as 0022 left it; add AUTOINCREMENT by hand:\n{ddl}")
    id_column = "id INTEGER NOT NULL CONSTRAINT pk_users PRIMARY KEY AUTOINCREMENT,"
    new_ddl = TABLE_KEY.sub("", ID_COLUMN.sub(id_column, ddl))
    indexes = [sql for (sql,) in bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL")]
    columns = ", ".join(f'"{name}"' for _cid, name, *_ in bind.exec_driver_sql("PRAGMA table_info(users)"))
    references = _references(bind)
    scaffolding = []
    for table, column in _unindexed(bind, references):
        scaffolding.append(f'"tmp_0023_{table}_{column}"')
        bind.exec_driver_sql(f'CREATE INDEX {scaffolding[-1]} ON "{table}" ("{column}")')
    bind.exec_driver_sql("PRAGMA defer_foreign_keys = ON")       # until commit; resets itself then
    bind.exec_driver_sql("CREATE TEMP TABLE users_0023 AS SELECT * FROM users")
    bind.exec_driver_sql("DROP TABLE users")
    bind.exec_driver_sql(new_ddl)
    bind.exec_driver_sql(f"INSERT INTO users ({columns}) SELECT {columns} FROM users_0023")
    bind.exec_driver_sql("DROP TABLE users_0023")
    for sql in indexes:
        bind.exec_driver_sql(sql)
    _start_above_every_reference(bind, references)      # while every such column is indexed: no scans
    for name in scaffolding:
        bind.exec_driver_sql(f"DROP INDEX {name}")


# columns naming a user without a foreign key (user_activity's is part of its primary key)
NAMED_WITHOUT_KEY = (("ussd_sessions", "user_id"), ("user_activity", "user_id"))


def _references(bind) -> list[tuple[str, str]]:
    """(table, column) of every single-column foreign key to users, once each."""
    tables = [name for (name,) in bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'users' ORDER BY name")]
    return list(dict.fromkeys((table, row[3]) for table in tables                # (id, seq, table, from, ...)
                              for row in bind.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')
                              if row[2] == "users"))


def _start_above_every_reference(bind, references: list[tuple[str, str]]) -> None:
    """The sequence starts above every id a row still points at, not only above the highest users row: a
    user deleted with foreign keys off (the sqlite3 shell's default) leaves rows naming an id handed out."""
    tables = {name for (name,) in bind.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = references + [(table, column) for table, column in NAMED_WITHOUT_KEY if table in tables]
    # an index's end, not a scan
    last = 'SELECT "{1}" FROM "{0}" WHERE typeof("{1}") = \'integer\' ORDER BY "{1}" DESC LIMIT 1'
    highest = max([bind.exec_driver_sql(last.format(table, column)).scalar() or 0
                   for table, column in dict.fromkeys(columns)], default=0)
    if not highest:
        return
    bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) SELECT 'users', 0 "
                         "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users')")
    bind.exec_driver_sql("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'users'", (highest,))


def _unindexed(bind, references: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of `references` whose column leads no index of its table."""
    leading: dict[str, set[str]] = {}
    for table in dict.fromkeys(table for table, _ in references):
        first = leading[table] = set()
        for index in bind.exec_driver_sql(f'PRAGMA index_list("{table}")').all():
            column = bind.exec_driver_sql(f'PRAGMA index_info("{index[1]}")').first()    # (seqno, cid, name)
            if column is not None:
                first.add(column[2])
        pk = [row[1] for row in bind.exec_driver_sql(f'PRAGMA table_info("{table}")') if row[5] == 1]
        first.update(pk[:1])                                      # a rowid or primary key leads its own index
    return [(table, column) for table, column in references if column not in leading[table]]


def downgrade() -> None:
    pass
