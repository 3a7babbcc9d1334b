"""meters: registered by an operator with the meter's serial and secret; baseline at registration

`meters.number` stays the serial (no rename). What the per-day cap sums, a meter's readings received since
local midnight, gets an index of its own.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_meter_readings_meter_day", "meter_readings", ["meter_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_meter_readings_meter_day", table_name="meter_readings")
