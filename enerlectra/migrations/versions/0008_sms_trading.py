"""sms trading: PIN by SMS (off by default) and SELL/BUY orders waiting for YES <PIN>

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sms_pin_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "sms_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_orders"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sms_orders_user_id_users"),
        sa.ForeignKeyConstraint(["order_id"], ["market_orders.id"], name="fk_sms_orders_order_id_market_orders"),
    )
    op.create_index("ix_sms_orders_user_id", "sms_orders", ["user_id"])


def downgrade() -> None:
    op.drop_table("sms_orders")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sms_pin_enabled")
