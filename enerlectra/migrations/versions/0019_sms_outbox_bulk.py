"""sms_outbox.bulk: a broadcast's rows wait behind every other queued SMS (OTPs, receipts, replies), claimed in
that order from a partial index over the queued rows alone

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.add_column("sms_outbox", sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Only rows still to send: the column decides the claim order, and sent history need not be rewritten
    # (an UPDATE of every broadcast row ever sent would hold the table while OTPs wait to be written).
    op.execute("UPDATE sms_outbox SET bulk = true WHERE kind = 'broadcast' AND status IN ('queued', 'sending')")
    op.create_index("ix_sms_outbox_due", "sms_outbox", ["status", "bulk", "id"],
                    sqlite_where=QUEUED, postgresql_where=QUEUED)


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_due", "sms_outbox")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE sms_outbox DROP COLUMN bulk")
    else:
        op.drop_column("sms_outbox", "bulk")
