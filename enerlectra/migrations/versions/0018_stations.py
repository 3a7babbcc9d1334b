"""stations: power-bank stations, their slots and banks, station events (evt_id dedupe), the station log and
eject requests (issue 20; protocols.md s.12)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("area", sa.String(40), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("online_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("boot_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("code", name="uq_stations_code"),
    )
    op.create_index("ix_stations_area", "stations", ["area"])
    op.create_table(
        "slots",
        sa.Column("station_id", sa.Integer(), _fk("slots", "station_id", "stations"), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("fault", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("station_id", "n", name="pk_slots"),
    )
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(20), nullable=False),
        sa.Column("station_id", sa.Integer(), _fk("banks", "station_id", "stations"), nullable=True),
        sa.Column("slot_n", sa.Integer(), nullable=True),
        sa.Column("soc", sa.Integer(), nullable=True),
        sa.Column("health", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("serial", name="uq_banks_serial"),
    )
    op.create_index("uq_banks_place", "banks", ["station_id", "slot_n"], unique=True)
    op.create_table(
        "station_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("evt_id", sa.String(80), nullable=False),
        sa.Column("station_id", sa.Integer(), _fk("station_events", "station_id", "stations"), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("evt_id", name="uq_station_events_evt_id"),
    )
    op.create_index("ix_station_events_station_id", "station_events", ["station_id"])
    op.create_table(
        "station_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.Integer(), _fk("station_log", "station_id", "stations"), nullable=True),
        sa.Column("bank_id", sa.Integer(), _fk("station_log", "bank_id", "banks"), nullable=True),
        sa.Column("slot_n", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(14), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("author", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_station_log_station_id", "station_log", ["station_id"])
    op.create_index("ix_station_log_bank_id", "station_log", ["bank_id"])
    op.create_index("ix_station_log_kind", "station_log", ["kind"])
    op.create_table(
        "eject_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("req_id", sa.String(26), nullable=False),
        sa.Column("station_id", sa.Integer(), _fk("eject_requests", "station_id", "stations"), nullable=False),
        sa.Column("slot_n", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), _fk("eject_requests", "bank_id", "banks"), nullable=False),
        sa.Column("rental_ref", sa.String(40), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("result_evt_id", sa.String(80), nullable=True),
        sa.Column("unknown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("req_id", name="uq_eject_requests_req_id"),
    )
    op.create_index("ix_eject_requests_open", "eject_requests", ["state", "issued_at"])
    op.create_index("ix_eject_requests_station_id", "eject_requests", ["station_id"])
    op.create_index("ix_eject_requests_bank_id", "eject_requests", ["bank_id"])
    op.create_index("ix_eject_requests_rental_ref", "eject_requests", ["rental_ref"])


def downgrade() -> None:
    for table in ("eject_requests", "station_log", "station_events", "banks", "slots", "stations"):
        op.drop_table(table)
