"""advisor: questions to the AI advisor, their answers and token usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisor_questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_key", sa.String(160), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(20), nullable=False),
        sa.Column("source", sa.String(4), nullable=False),
        sa.Column("language", sa.String(3), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("backend", sa.String(10), nullable=True),
        sa.Column("model", sa.String(60), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("stop_reason", sa.String(20), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_advisor_questions"),
        sa.UniqueConstraint("request_key", name="uq_advisor_questions_request_key"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_advisor_questions_user_id_users"),
        sa.ForeignKeyConstraint(["outbox_id"], ["sms_outbox.id"], name="fk_advisor_questions_outbox_id_sms_outbox"),
    )
    op.create_index("ix_advisor_questions_user_id", "advisor_questions", ["user_id"])
    op.create_index("ix_advisor_questions_status", "advisor_questions", ["status"])


def downgrade() -> None:
    op.drop_table("advisor_questions")
