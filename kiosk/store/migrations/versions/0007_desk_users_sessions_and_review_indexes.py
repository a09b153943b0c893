"""desk users, sessions and the entry log review indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 02:40:08.419313

Desk logins (``users``: scrypt password hash, lockout counters, linked to a staff member for the role)
and server-side desk sessions (``desk_sessions``: only the SHA-256 of the cookie's token is stored).

Two indexes on ``events`` for the review screens: (subject, at) for a person's badges, a visitor's cards
and a door's contact, (actor, at) for a person's own actions and a door's readers and rules. They are
created with a plain CREATE INDEX, never in batch mode: a SQLite table rebuild would drop the
append-only triggers of migration 0005.
"""
from alembic import op
import sqlalchemy as sa
import kiosk.store.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('employee_no', sa.String(length=32), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_employee_no', ['employee_no'], unique=False)

    op.create_table('desk_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_why', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_desk_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_sessions'))
    )
    with op.batch_alter_table('desk_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_desk_sessions_user', ['user_id'], unique=False)

    op.create_index('ix_events_actor_at', 'events', ['actor', 'at'], unique=False)
    op.create_index('ix_events_subject_at', 'events', ['subject', 'at'], unique=False)



def downgrade() -> None:
    op.drop_index('ix_events_subject_at', table_name='events')
    op.drop_index('ix_events_actor_at', table_name='events')

    with op.batch_alter_table('desk_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_desk_sessions_user')

    op.drop_table('desk_sessions')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_employee_no')

    op.drop_table('users')
