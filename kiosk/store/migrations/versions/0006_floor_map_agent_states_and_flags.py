"""floor map: agent states from the call platform, busy and wrap-up seconds, floor flags

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import kiosk.store.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('integration', sa.String(length=64), nullable=False),
    sa.Column('employee_no', sa.String(length=32), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('out_of_order', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_events'))
    )
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.create_index('ix_agent_events_employee_at', ['employee_no', 'at'], unique=False)

    op.create_table('agent_live',
    sa.Column('employee_no', sa.String(length=32), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('since', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('signed_in_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('seat_since', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('other_seat', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('employee_no', name=op.f('pk_agent_live'))
    )
    with op.batch_alter_table('agent_live', schema=None) as batch_op:
        batch_op.create_index('ix_agent_live_seat', ['seat_id'], unique=False)

    op.create_table('agent_minutes',
    sa.Column('employee_no', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('busy_seconds', sa.Double(), nullable=False),
    sa.Column('wrap_seconds', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('employee_no', 'day', name=op.f('pk_agent_minutes'))
    )
    op.create_table('floor_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('employee_no', sa.String(length=32), nullable=True),
    sa.Column('seat_id', sa.String(length=32), nullable=True),
    sa.Column('since', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('raised_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=32), nullable=True),
    sa.Column('cause', sa.String(length=32), nullable=True),
    sa.Column('comment', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_floor_flags'))
    )
    with op.batch_alter_table('floor_flags', schema=None) as batch_op:
        batch_op.create_index('ix_floor_flags_ack', ['acknowledged_at'], unique=False)
        batch_op.create_index('ix_floor_flags_cleared', ['cleared_at'], unique=False)
        batch_op.create_index('uq_floor_flags_open_key', ['key'], unique=True,
                              sqlite_where=sa.text('cleared_at IS NULL'),
                              postgresql_where=sa.text('cleared_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('floor_flags', schema=None) as batch_op:
        batch_op.drop_index('uq_floor_flags_open_key', sqlite_where=sa.text('cleared_at IS NULL'),
                            postgresql_where=sa.text('cleared_at IS NULL'))
        batch_op.drop_index('ix_floor_flags_cleared')
        batch_op.drop_index('ix_floor_flags_ack')

    op.drop_table('floor_flags')
    op.drop_table('agent_minutes')
    with op.batch_alter_table('agent_live', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_live_seat')

    op.drop_table('agent_live')
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_events_employee_at')

    op.drop_table('agent_events')
