"""door and kiosk screen positions on the floor plan

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00

``doors.x``, ``doors.y`` and ``screens.x``, ``screens.y``: where a door and a kiosk screen are on the floor
plan, in the seats' plan units. Both nullable: a door or screen nobody has placed yet is simply not drawn on
the map. Plain ADD COLUMN, no table rebuild.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('doors', 'screens'):
        op.add_column(table, sa.Column('x', sa.Double(), nullable=True))
        op.add_column(table, sa.Column('y', sa.Double(), nullable=True))


def downgrade() -> None:
    for table in ('doors', 'screens'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('y')
            batch_op.drop_column('x')
