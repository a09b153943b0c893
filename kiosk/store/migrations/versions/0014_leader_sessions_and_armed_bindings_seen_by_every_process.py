"""leader_sessions, armed_bindings: what is going on at a kiosk, seen by every server process

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 11:00:00

A leader's badge tap opens a session for the kiosk, and the PIN typed on the kiosk's screen verifies it; a
leader arms the kiosk to bind the next unknown card to a visitor. In a centre the taps can reach one server
process (a kiosk PC's reader posts to any of them) and the screen another (its websocket lives on one), so
both, kept until now in one process's memory, are rows: one per kiosk, replaced by the next tap or arming,
deleted when they end. Sessions and armings open at the upgrade are lost (they last a minute and 30 s).
"""
from alembic import op
import sqlalchemy as sa
import kiosk.store.models


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leader_sessions',
    sa.Column('kiosk_id', sa.String(length=64), nullable=False),
    sa.Column('employee_no', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('started_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pin_verified', sa.Boolean(), nullable=False),
    sa.Column('pin_failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kiosk_id', name=op.f('pk_leader_sessions'))
    )
    op.create_table('armed_bindings',
    sa.Column('kiosk_id', sa.String(length=64), nullable=False),
    sa.Column('approval_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('armed_by', sa.String(length=32), nullable=False),
    sa.Column('expires_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approval_id'], ['visitor_approvals.id'],
                            name=op.f('fk_armed_bindings_approval_id_visitor_approvals')),
    sa.PrimaryKeyConstraint('kiosk_id', name=op.f('pk_armed_bindings'))
    )


def downgrade() -> None:
    op.drop_table('armed_bindings')
    op.drop_table('leader_sessions')
