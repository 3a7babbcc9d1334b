"""pins bound: every user PIN stored as plain scrypt (or sealed but unbound) is sealed and bound to its user,
without its PIN

A plain hash holds scrypt(pin, salt); HMAC(key, "user <id>" + HMAC(key, that value)) is exactly the bound
value at the same cost and salt (pin_code.bind_to_user), so no user has to type their PIN first. After this,
user PINs verify only bound to their own row: neither a plain hash written into the users table without the
key, nor a value copied from another user's row, opens anything. So set LEDGER_KEY (or keep
ENERLECTRA_HOME's ledger.key) before `enerlectra db upgrade`, as for 0011; a database with nothing to bind
needs no key here. Stop every process of the release before this one first: they would write plain PINs,
which pins.check refuses (without taking a try) until a PIN reset. A value hash_pin never writes is left as
it is (it verifies as nothing: the user sets a new PIN by a PIN reset, menus/pinreset).

Downgrading keeps the bound hashes (the release before this one does not verify them: its users would need
PIN resets), so downgrade below 0022 only with a backup taken before.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BATCH = 5000
users = sa.table("users", sa.column("id", sa.Integer), sa.column("pin_hash", sa.String))
UNBOUND = ("scrypt$", "scrypt-k1$")       # pin_code.PLAIN and KEYED, as stored


def upgrade() -> None:
    bind = op.get_bind()
    unbound = sa.or_(*(users.c.pin_hash.like(f"{prefix}%") for prefix in UNBOUND))
    if not bind.execute(sa.select(sa.func.count()).select_from(users).where(unbound)).scalar():
        return
    from enerlectra.domain import pin_code  # the key: this process's (ledger.use_key), as 0011 uses it

    pin_code.pin_key()                       # no key: ledger.NoKey before anything is read or written
    last_id = 0
    while rows := bind.execute(sa.select(users.c.id, users.c.pin_hash).where(unbound, users.c.id > last_id)
                               .order_by(users.c.id).limit(BATCH)).all():
        bound = [{"uid": r.id, "old": r.pin_hash, "new": pin_code.bind_to_user(r.pin_hash, r.id)} for r in rows]
        bound = [row for row in bound if row["new"] is not None]
        if bound:
            bind.execute(users.update().where(users.c.id == sa.bindparam("uid"),
                                              users.c.pin_hash == sa.bindparam("old"))
                         .values(pin_hash=sa.bindparam("new")), bound)
        last_id = rows[-1].id


def downgrade() -> None:
    pass
