"""rentals: one row per power-bank rental (the terms shown, the eject request, the bill) and rental_notices,
each reminder once per rental and kind (issue 20)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('ejecting', 'active')")


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "rentals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(12), nullable=False),
        sa.Column("request_key", sa.String(120), nullable=False),
        sa.Column("user_id", sa.Integer(), _fk("rentals", "user_id", "users"), nullable=False),
        sa.Column("station_id", sa.Integer(), _fk("rentals", "station_id", "stations"), nullable=False),
        sa.Column("bank_id", sa.Integer(), _fk("rentals", "bank_id", "banks"), nullable=True),
        sa.Column("slot_n", sa.Integer(), nullable=True),
        sa.Column("req_id", sa.String(26), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("deposit", sa.BigInteger(), nullable=False),
        sa.Column("prepaid", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_station_id", sa.Integer(), _fk("rentals", "return_station_id", "stations"), nullable=True),
        sa.Column("bill", sa.JSON(), nullable=True),
        sa.Column("end_key", sa.String(120), nullable=True),
        sa.Column("owed", sa.BigInteger(), nullable=False),
        sa.Column("deposit_entry_id", sa.Integer(), nullable=True),
        sa.Column("settle_entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("ref", name="uq_rentals_ref"),
        sa.UniqueConstraint("request_key", name="uq_rentals_request_key"),
        sa.UniqueConstraint("req_id", name="uq_rentals_req_id"),
        sa.UniqueConstraint("end_key", name="uq_rentals_end_key"),
    )
    op.create_index("ix_rentals_user_id", "rentals", ["user_id"])
    op.create_index("ix_rentals_station_id", "rentals", ["station_id"])
    op.create_index("ix_rentals_bank_id", "rentals", ["bank_id"])
    op.create_index("ix_rentals_open", "rentals", ["state", "due_at"])
    op.create_index("uq_rentals_open_user", "rentals", ["user_id"], unique=True, sqlite_where=OPEN,
                    postgresql_where=OPEN)
    op.create_table(
        "rental_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rental_id", sa.Integer(), _fk("rental_notices", "rental_id", "rentals"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("rental_id", "kind", name="uq_rental_notices_rental_id_kind"),
    )


def downgrade() -> None:
    op.drop_table("rental_notices")
    op.drop_table("rentals")
