"""pins sealed: every user PIN stored as plain scrypt is sealed with the key, without its PIN

A plain hash holds scrypt(pin, salt); HMAC(pin key, that value) is exactly the sealed value at the same cost
and salt (pin_code.seal_plain), so no user has to type their PIN first. After this, user PINs verify only
sealed: a plain hash written into the users table by whoever can write it (without the key) opens nothing.
So set LEDGER_KEY (or keep ENERLECTRA_HOME's ledger.key) before `enerlectra db upgrade`, as for 0011; a
database with no plain PIN needs no key here. A stored value hash_pin never writes is left as it is (it
verifies as nothing: the user sets a new PIN by a PIN reset, menus/pinreset).

Downgrading keeps the sealed hashes: the release before this one verifies them too.

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
PLAIN_PREFIX = "scrypt$"


def upgrade() -> None:
    bind = op.get_bind()
    plain = users.c.pin_hash.like(f"{PLAIN_PREFIX}%")
    if not bind.execute(sa.select(sa.func.count()).select_from(users).where(plain)).scalar():
        return
    from enerlectra.domain import pin_code   # the key: this process's (ledger.use_key), as 0011 uses it

    key, last_id = pin_code.pin_key(), 0
    while rows := bind.execute(sa.select(users.c.id, users.c.pin_hash).where(plain, users.c.id > last_id)
                               .order_by(users.c.id).limit(BATCH)).all():
        sealed = [{"uid": r.id, "old": r.pin_hash, "new": pin_code.seal_plain(r.pin_hash, key)} for r in rows]
        sealed = [row for row in sealed if row["new"] is not None]
        if sealed:
            bind.execute(users.update().where(users.c.id == sa.bindparam("uid"),
                                              users.c.pin_hash == sa.bindparam("old"))
                         .values(pin_hash=sa.bindparam("new")), sealed)
        last_id = rows[-1].id


def downgrade() -> None:
    pass
