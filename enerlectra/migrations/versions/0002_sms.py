"""SMS: outbox, inbound messages, opt-out

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sms_opt_out", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("msisdn", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("essential", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("encoding", sa.String(5), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(120), nullable=True),
        sa.Column("gateway", sa.String(20), nullable=True),
        sa.Column("gateway_message_id", sa.String(64), nullable=True),
        sa.Column("cost", sa.String(32), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("failure_reason", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dispatches", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sms_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_sms_outbox_dedupe_key"),
    )
    op.create_index("ix_sms_outbox_msisdn", "sms_outbox", ["msisdn"])
    op.create_index("ix_sms_outbox_status", "sms_outbox", ["status"])
    op.create_index("ix_sms_outbox_gateway_message_id", "sms_outbox", ["gateway_message_id"])
    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider_id", sa.String(100), nullable=False),
        sa.Column("msisdn", sa.String(16), nullable=False),
        sa.Column("to_code", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link_id", sa.String(100), nullable=True),
        sa.Column("network_code", sa.String(10), nullable=False),
        sa.Column("command", sa.String(20), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_inbound"),
        sa.UniqueConstraint("provider_id", name="uq_sms_inbound_provider_id"),
        sa.ForeignKeyConstraint(["reply_id"], ["sms_outbox.id"], name="fk_sms_inbound_reply_id_sms_outbox"),
    )


def downgrade() -> None:
    op.drop_table("sms_inbound")
    op.drop_table("sms_outbox")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sms_opt_out")
