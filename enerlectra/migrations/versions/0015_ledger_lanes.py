"""ledger: the MAC chain split into lanes (ledger_head rows), so concurrent postings never share one head

Every entry already there stays where it is: lane 1, same seq, same MAC (the sealed content names a lane
only when it is not 1), so anchors written before this revision still verify. Lanes 2..LANES start empty.
A posting takes whichever lane no other transaction holds (SELECT ... FOR UPDATE SKIP LOCKED); seq is
gapless per lane, unique per (lane, seq).

Downgrading is refused once an entry sits on another lane than 1: 0014's single chain cannot hold them
without sealing them again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
LANES = 32          # more than the connections that post at once in one installation; more rows can be added

head = sa.table("ledger_head", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger),
                sa.column("last_entry_id", sa.Integer), sa.column("last_mac", sa.String))


def upgrade() -> None:
    # A plain column in place (no table copy: postings reference journal_entries).
    op.add_column("journal_entries", sa.Column("lane", sa.Integer(), nullable=False, server_default="1"))
    op.drop_index("uq_journal_entries_seq", table_name="journal_entries")
    op.create_index("uq_journal_entries_lane_seq", "journal_entries", ["lane", "seq"], unique=True)
    op.bulk_insert(head, [{"id": lane, "seq": 0, "last_entry_id": 0, "last_mac": GENESIS}
                          for lane in range(2, LANES + 1)])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM journal_entries WHERE lane <> 1")).scalar():
        raise RuntimeError("entries on lanes other than 1: revision 0014's single chain cannot hold them")
    op.execute("DELETE FROM ledger_head WHERE id <> 1")
    op.drop_index("uq_journal_entries_lane_seq", table_name="journal_entries")
    op.create_index("uq_journal_entries_seq", "journal_entries", ["seq"], unique=True)
    op.execute("ALTER TABLE journal_entries DROP COLUMN lane")
