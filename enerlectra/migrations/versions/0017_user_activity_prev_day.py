"""user_activity.prev_day: each active day knows the user's active day before it, so distinct active users over a
period are a count of rows (day in the period, prev_day before it or none) instead of a DISTINCT; users and
sms_outbox indexed by created_at (the console's new users and SMS per period; the SMS index covers the figures)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_activity", sa.Column("prev_day", sa.Date(), nullable=True))
    op.create_index("ix_user_activity_user_id_day", "user_activity", ["user_id", "day"])
    op.create_index("ix_user_activity_day_prev_day", "user_activity", ["day", "prev_day"])
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.create_index("ix_sms_outbox_period", "sms_outbox", ["created_at", "status", "segments", "cost"])
    op.execute("UPDATE user_activity SET prev_day = (SELECT max(x.day) FROM user_activity x "
               "WHERE x.user_id = user_activity.user_id AND x.day < user_activity.day)")


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_period", "sms_outbox")
    op.drop_index("ix_users_created_at", "users")
    op.drop_index("ix_user_activity_day_prev_day", "user_activity")
    op.drop_index("ix_user_activity_user_id_day", "user_activity")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE user_activity DROP COLUMN prev_day")
    else:
        op.drop_column("user_activity", "prev_day")
