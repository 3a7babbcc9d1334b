"""proposals: numbered per cluster (#1, #2 ... in each), not globally

Existing proposals keep their global id as their number, so a ballot already sent ("YES 12") still
names the same proposal; new ones continue from the highest number in their cluster.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
    op.execute("UPDATE proposals SET number = id")
    with op.batch_alter_table("proposals") as batch:
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_proposals_cluster_number", ["cluster_id", "number"])


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_constraint("uq_proposals_cluster_number", type_="unique")
        batch.drop_column("number")
