"""meters: prosumer meters and their readings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("last_export_wh", sa.BigInteger(), nullable=True),
        sa.Column("last_import_wh", sa.BigInteger(), nullable=True),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meters"),
        sa.UniqueConstraint("number", name="uq_meters_number"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_meters_user_id_users"),
    )
    op.create_index("ix_meters_user_id", "meters", ["user_id"])
    op.create_table(
        "meter_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("export_wh", sa.BigInteger(), nullable=False),
        sa.Column("import_wh", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(80), nullable=True),
        sa.Column("credited_wh", sa.BigInteger(), nullable=False),
        sa.Column("debited_wh", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meter_readings"),
        sa.UniqueConstraint("meter_id", "read_at", name="uq_meter_readings_meter_id"),
        sa.ForeignKeyConstraint(["meter_id"], ["meters.id"], name="fk_meter_readings_meter_id_meters"),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"],
                                name="fk_meter_readings_entry_id_journal_entries"),
    )
    op.create_index("ix_meter_readings_meter_id", "meter_readings", ["meter_id"])
    op.create_index("ix_meter_readings_status", "meter_readings", ["status"])


def downgrade() -> None:
    op.drop_table("meter_readings")
    op.drop_table("meters")
