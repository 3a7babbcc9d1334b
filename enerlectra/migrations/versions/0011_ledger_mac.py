"""ledger: a keyed MAC chain (LEDGER_KEY) with sequence numbers over amounts, accounts, owners and times

Entries get a gapless `seq` (unique), the head gets the count; `hash`/`prev_hash`/`last_hash` become
`mac`/`prev_mac`/`last_mac`. Entries already in the database (production) are numbered in id order, their
old unkeyed SHA-256 chain is checked (a break stops the upgrade and names the entry), and then they are
sealed under the ledger key here, so no entry is ever left on the unkeyed chain and no "legacy" mode
exists for an attacker to switch on. So set LEDGER_KEY (or keep ENERLECTRA_HOME's ledger.key) before
`enerlectra db upgrade`; an empty ledger needs no key here.

Columns are renamed and dropped in place (ALTER TABLE ... RENAME/DROP COLUMN, SQLite >= 3.35 and PostgreSQL):
a batch copy of journal_entries would drop a table that the postings reference. Downgrading keeps the rows
but not an unkeyed chain: 0010's `ledger verify` would then report every entry.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""
import hashlib
import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
RENAMES = [("journal_entries", "prev_hash", "prev_mac"), ("journal_entries", "hash", "mac"),
           ("ledger_head", "last_hash", "last_mac")]
BATCH = 5000

entries = sa.table("journal_entries", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger),
                   sa.column("idempotency_key", sa.String), sa.column("kind", sa.String),
                   sa.column("memo", sa.String), sa.column("prev_mac", sa.String), sa.column("mac", sa.String),
                   sa.column("created_at", sa.DateTime(timezone=True)))
postings = sa.table("postings", sa.column("entry_id", sa.Integer), sa.column("account_id", sa.Integer),
                    sa.column("asset", sa.String), sa.column("amount", sa.BigInteger), sa.column("id", sa.Integer))
accounts = sa.table("accounts", sa.column("id", sa.Integer), sa.column("code", sa.String),
                    sa.column("user_id", sa.Integer), sa.column("kind", sa.String), sa.column("asset", sa.String),
                    sa.column("allow_negative", sa.Boolean))
head = sa.table("ledger_head", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger),
                sa.column("last_entry_id", sa.Integer), sa.column("last_mac", sa.String))


def upgrade() -> None:
    for table in ("journal_entries", "ledger_head"):
        with op.batch_alter_table(table) as batch:        # ADD COLUMN in place, no table copy
            batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    for table, old, new in RENAMES:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
    op.execute("UPDATE journal_entries SET seq = n.rn FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn "
               "FROM journal_entries) AS n WHERE journal_entries.id = n.id")
    op.execute("UPDATE ledger_head SET seq = (SELECT COUNT(*) FROM journal_entries)")
    op.create_index("uq_journal_entries_seq", "journal_entries", ["seq"], unique=True)
    _seal_existing(op.get_bind())


def downgrade() -> None:
    op.drop_index("uq_journal_entries_seq", table_name="journal_entries")
    for table in ("journal_entries", "ledger_head"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN seq")
    for table, old, new in RENAMES:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {old}")


def _old_hash(prev: str, e, triples: list[tuple[int, str, int]]) -> str:
    """The unkeyed chain of revisions 0003-0010, exactly as ledger.py computed it then."""
    content = json.dumps({"key": e.idempotency_key, "kind": e.kind, "memo": e.memo, "postings": sorted(triples)},
                         separators=(",", ":"), sort_keys=True)
    return hashlib.sha256((prev + content).encode()).hexdigest()


def _seal_existing(bind) -> None:
    """Check the old chain entry by entry, then seal each entry under the key, a batch at a time."""
    if not bind.execute(sa.select(sa.func.count()).select_from(entries)).scalar():
        return
    from enerlectra.domain import ledger  # sealed_content v1 stays in ledger.py: verify reads it forever

    key = ledger.current_key()
    owners = {r.id: r for r in bind.execute(sa.select(accounts))}
    old_prev, new_prev, last_seq, last_id = GENESIS, GENESIS, 0, 0
    while rows := bind.execute(sa.select(entries).where(entries.c.seq > last_seq).order_by(entries.c.seq)
                               .limit(BATCH)).all():
        moved = defaultdict(list)
        for p in bind.execute(sa.select(postings).where(postings.c.entry_id.in_([e.id for e in rows]))):
            moved[p.entry_id].append((p.account_id, p.asset, p.amount))
        sealed = []
        for e in rows:
            if e.prev_mac != old_prev or e.mac != _old_hash(old_prev, e, moved[e.id]):
                raise RuntimeError(f"entry {e.id}: the old hash chain is broken here; nothing was sealed. "
                                   "Investigate with the previous release's `ledger verify`.")
            mac = ledger.seal(key, ledger.sealed_content(new_prev, e.seq, e.idempotency_key, e.kind, e.memo,
                                                         e.created_at, moved[e.id], owners))
            sealed.append({"eid": e.id, "p": new_prev, "m": mac})
            old_prev, new_prev, last_seq, last_id = e.mac, mac, e.seq, e.id
        bind.execute(entries.update().where(entries.c.id == sa.bindparam("eid"))
                     .values(prev_mac=sa.bindparam("p"), mac=sa.bindparam("m")), sealed)
    if bind.execute(sa.select(head.c.last_mac).where(head.c.id == 1)).scalar() != old_prev:
        raise RuntimeError(f"ledger head: does not end the old chain at entry {last_id}; nothing was sealed")
    bind.execute(head.update().where(head.c.id == 1).values(last_entry_id=last_id, last_mac=new_prev))
