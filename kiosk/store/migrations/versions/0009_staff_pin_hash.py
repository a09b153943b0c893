"""staff pin hash

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:00:00

``staff.pin_hash``: the scrypt hash of a leader's kiosk PIN (``scrypt$n=..,r=..,p=..$salt$key``, the same
format as desk passwords), set and cleared with ``kiosk staff set-pin`` / ``clear-pin``. NULL: no PIN
set; the person may then only acknowledge alerts at the kiosk. The PIN itself is never stored. A plain
ADD / DROP COLUMN, never batch mode: a SQLite rebuild of ``staff`` would trip the foreign keys pointing
at it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff', sa.Column('pin_hash', sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column('staff', 'pin_hash')
