"""clusters: community energy clusters, memberships, proposals, voters and votes; pool-funded payouts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(14), nullable=False),
        sa.Column("area", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
        sa.UniqueConstraint("code", name="uq_clusters_code"),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("contributed", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.UniqueConstraint("cluster_id", "user_id", name="uq_memberships_cluster_id"),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name="fk_memberships_cluster_id_clusters"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memberships_user_id_users"),
    )
    op.create_index("ix_memberships_cluster_id", "memberships", ["cluster_id"])
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("proposer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("title", sa.String(60), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("payee", sa.String(16), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("yes", sa.Integer(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("payment_ref", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_proposals"),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name="fk_proposals_cluster_id_clusters"),
        sa.ForeignKeyConstraint(["proposer_id"], ["users.id"], name="fk_proposals_proposer_id_users"),
        sa.ForeignKeyConstraint(["subject_id"], ["users.id"], name="fk_proposals_subject_id_users"),
    )
    op.create_index("ix_proposals_cluster_id", "proposals", ["cluster_id"])
    op.create_index("ix_proposals_deadline", "proposals", ["deadline"])
    op.create_index("ix_proposals_state", "proposals", ["state"])
    op.create_table(
        "voters",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id", "user_id", name="pk_voters"),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name="fk_voters_proposal_id_proposals"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_voters_user_id_users"),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(3), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.UniqueConstraint("proposal_id", "user_id", name="uq_votes_proposal_id"),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name="fk_votes_proposal_id_proposals"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_votes_user_id_users"),
    )
    op.create_index("ix_votes_proposal_id", "votes", ["proposal_id"])
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("funding", sa.String(80), nullable=True))
        batch.add_column(sa.Column("purpose", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("purpose")
        batch.drop_column("funding")
    op.drop_table("votes")
    op.drop_table("voters")
    op.drop_table("proposals")
    op.drop_table("memberships")
    op.drop_table("clusters")
