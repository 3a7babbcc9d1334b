"""ledger: accounts, journal entries, postings, chain head; PIN attempt counting

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("pin_failures", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("pin_locked_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("asset", sa.String(3), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("code", name="uq_accounts_code"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_accounts_user_id_users"),
        sa.CheckConstraint("allow_negative OR balance >= 0", name="ck_accounts_not_negative"),
    )
    op.create_index("ix_accounts_user_id", "accounts", ["user_id"])
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("memo", sa.String(200), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journal_entries"),
        sa.UniqueConstraint("idempotency_key", name="uq_journal_entries_idempotency_key"),
    )
    op.create_table(
        "postings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("asset", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_postings"),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name="fk_postings_entry_id_journal_entries"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_postings_account_id_accounts"),
    )
    op.create_index("ix_postings_entry_id", "postings", ["entry_id"])
    op.create_index("ix_postings_account_id", "postings", ["account_id"])
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_entry_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_head"),
    )
    op.bulk_insert(head, [{"id": 1, "last_entry_id": 0, "last_hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_table("postings")
    op.drop_table("journal_entries")
    op.drop_table("accounts")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("pin_locked_until")
        batch.drop_column("pin_failures")
