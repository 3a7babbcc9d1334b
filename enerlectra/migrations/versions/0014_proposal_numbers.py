"""proposals: numbered per cluster (#1, #2 ... in each), not globally

Existing proposals keep their global id as their number, so a ballot already sent ("YES 12") still
names the same proposal; new ones continue from the highest number in their cluster.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No table rebuild (SQLite's batch mode would drop `proposals` under the voters' and votes' foreign keys):
    # a plain column, filled, and a unique index; NOT NULL where the database can add it in place.
    op.add_column("proposals", sa.Column("number", sa.Integer(), nullable=True))
    op.execute("UPDATE proposals SET number = id")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("proposals", "number", existing_type=sa.Integer(), nullable=False)
    op.create_index("uq_proposals_cluster_number", "proposals", ["cluster_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_proposals_cluster_number", table_name="proposals")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE proposals DROP COLUMN number")      # SQLite 3.35+: in place, no rebuild
    else:
        op.drop_column("proposals", "number")
