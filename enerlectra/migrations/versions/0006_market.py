"""market: order book per currency, trades, price alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "markets",
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("last_price", sa.BigInteger(), nullable=True),
        sa.Column("last_trade_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("currency", name="pk_markets"),
    )
    op.bulk_insert(sa.table("markets", sa.column("currency", sa.String)), [{"currency": "ZMW"}, {"currency": "TZS"}])
    op.create_table(
        "market_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(160), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("remaining_wh", sa.BigInteger(), nullable=False),
        sa.Column("escrow", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_market_orders"),
        sa.UniqueConstraint("request_key", name="uq_market_orders_request_key"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_market_orders_user_id_users"),
    )
    op.create_index("ix_market_orders_user_id", "market_orders", ["user_id"])
    # The book: open orders of one market and side, in price-time order.
    op.create_index("ix_market_orders_book", "market_orders", ["currency", "side", "state", "price", "id"])
    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("buy_order_id", sa.Integer(), nullable=False),
        sa.Column("sell_order_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("seller_id", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("money", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        sa.ForeignKeyConstraint(["buy_order_id"], ["market_orders.id"], name="fk_trades_buy_order_id_market_orders"),
        sa.ForeignKeyConstraint(["sell_order_id"], ["market_orders.id"],
                                name="fk_trades_sell_order_id_market_orders"),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name="fk_trades_buyer_id_users"),
        sa.ForeignKeyConstraint(["seller_id"], ["users.id"], name="fk_trades_seller_id_users"),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name="fk_trades_entry_id_journal_entries"),
    )
    op.create_index("ix_trades_buy_order_id", "trades", ["buy_order_id"])
    op.create_index("ix_trades_sell_order_id", "trades", ["sell_order_id"])
    op.create_index("ix_trades_created_at", "trades", ["created_at"])
    op.create_table(
        "price_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("below", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_price_alerts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_price_alerts_user_id_users"),
    )
    op.create_index("ix_price_alerts_user_id", "price_alerts", ["user_id"])
    op.create_index("ix_price_alerts_state", "price_alerts", ["state"])


def downgrade() -> None:
    op.drop_table("price_alerts")
    op.drop_table("trades")
    op.drop_table("market_orders")
    op.drop_table("markets")
