"""money keys: a payment and a proposal carry the key of the request that made them (the hop the aggregator resends)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("request_key", sa.String(80), nullable=True))
        batch.create_unique_constraint("uq_payments_request_key", ["request_key"])
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("request_key", sa.String(80), nullable=True))
        batch.create_unique_constraint("uq_proposals_request_key", ["request_key"])


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_constraint("uq_proposals_request_key", type_="unique")
        batch.drop_column("request_key")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("uq_payments_request_key", type_="unique")
        batch.drop_column("request_key")
