"""console: operators, the audit log, session ends and their daily rollups, a cluster's carbon baseline

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("cluster_id", sa.Integer(), sa.ForeignKey("clusters.id", name="fk_operators_cluster_id_clusters"),
                  nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("email", name="uq_operators_email"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operator_id", sa.Integer(),
                  sa.ForeignKey("operators.id", name="fk_audit_log_operator_id_operators"), nullable=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=False, server_default=""),
        sa.Column("before", sa.Text(), nullable=False, server_default=""),
        sa.Column("after", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_audit_log_operator_id", "audit_log", ["operator_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])
    op.create_table(
        "ussd_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("aggregator", sa.String(16), nullable=False),
        sa.Column("msisdn", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(3), nullable=False),
        sa.Column("screens", sa.Text(), nullable=False, server_default=""),
        sa.Column("last_screen", sa.String(40), nullable=False),
        sa.Column("end_reason", sa.String(8), nullable=False),
        sa.Column("hops", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", name="uq_ussd_sessions_session_id"),
    )
    op.create_index("ix_ussd_sessions_user_id", "ussd_sessions", ["user_id"])
    op.create_index("ix_ussd_sessions_ended_at", "ussd_sessions", ["ended_at"])
    op.create_table(
        "funnel_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("screen", sa.String(40), nullable=False),
        sa.Column("language", sa.String(3), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("journey", sa.String(20), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in ("reached", "ended_done", "ended_error", "ended_hangup", "ended_timeout")],
        sa.PrimaryKeyConstraint("day", "screen", "language", "country", name="pk_funnel_daily"),
    )
    op.create_table(
        "sessions_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(3), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in ("sessions", "hops", "done", "error", "hangup", "timeout")],
        sa.PrimaryKeyConstraint("day", "country", "language", name="pk_sessions_daily"),
    )
    op.create_table(
        "user_activity",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", name="pk_user_activity"),
    )
    op.add_column("clusters", sa.Column("carbon_baseline", sa.String(10), nullable=False, server_default="grid"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE clusters DROP COLUMN carbon_baseline")
    else:
        op.drop_column("clusters", "carbon_baseline")
    for table in ("user_activity", "sessions_daily", "funnel_daily", "ussd_sessions", "audit_log", "operators"):
        op.drop_table(table)
