"""fleet indexes: the console's station log and rentals lists read newest first through an index at fleet size
(bench.console_stations: 2,000 stations, 1,000,000 rentals, 2,000,000 log lines)

A station's log, and each kind of line (the alerts list), by (created_at, id); a bank's log lines by id (the
last station that saw a bank out of its slots); rentals by (state, id), (station_id, id) and (user_id, id) for
the keyset pages newest first. Each composite index replaces the
single-column one that was its prefix (foreign-key lookups still use it).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# (table, the index it replaces, its columns, the new index, its columns)
SWAPS = [
    ("station_log", "ix_station_log_station_id", ["station_id"], "ix_station_log_station_time",
     ["station_id", "created_at", "id"]),
    ("station_log", "ix_station_log_kind", ["kind"], "ix_station_log_kind_time", ["kind", "created_at", "id"]),
    ("station_log", "ix_station_log_bank_id", ["bank_id"], "ix_station_log_bank_newest", ["bank_id", "id"]),
    ("rentals", "ix_rentals_station_id", ["station_id"], "ix_rentals_station_newest", ["station_id", "id"]),
    ("rentals", "ix_rentals_user_id", ["user_id"], "ix_rentals_user_newest", ["user_id", "id"]),
]
ADDED = [("rentals", "ix_rentals_state_newest", ["state", "id"])]


def upgrade() -> None:
    for table, old, _, new, columns in SWAPS:
        op.create_index(new, table, columns)
        op.drop_index(old, table)
    for table, name, columns in ADDED:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for table, name, _ in ADDED:
        op.drop_index(name, table)
    for table, old, old_columns, new, _ in SWAPS:
        op.create_index(old, table, old_columns)
        op.drop_index(new, table)
