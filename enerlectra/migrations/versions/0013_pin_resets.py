"""pin resets: a forgotten PIN asked for by USSD, issued once by support, used by the next dial; a hold on
money actions after a reset (users.pin_reset_hold_until)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pin_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("open_for", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pin_resets"),
        sa.UniqueConstraint("open_for", name="uq_pin_resets_open_for"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_pin_resets_user_id_users"),
    )
    op.create_index("ix_pin_resets_user_id", "pin_resets", ["user_id"])
    op.create_index("ix_pin_resets_state", "pin_resets", ["state"])
    op.add_column("users", sa.Column("pin_reset_hold_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "pin_reset_hold_until")
    op.drop_index("ix_pin_resets_state", table_name="pin_resets")
    op.drop_index("ix_pin_resets_user_id", table_name="pin_resets")
    op.drop_table("pin_resets")
