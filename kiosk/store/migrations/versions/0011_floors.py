"""floors: doors, zones, points, kiosk screens, roster lines and roll calls belong to a floor

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:00:00

``floors`` (code such as ``3F``, names in Chinese and English, a sort order). The migration creates one
floor, ``1F``, and puts every existing zone (and so every seat), door, point, kiosk screen, roster line and
roll call on it, so a one-floor site sees no change and needs no new setting. ``floor_id`` is NOT NULL on
zones, doors, points, roster and rollcalls (code that names no floor writes the first one); nullable on
screens (NULL: a screen that shows every floor) and alerts (NULL: an alert that concerns no one floor;
existing door alerts get their door's floor). A roll call is now one per day, shift and floor.

Tables are rebuilt on SQLite (batch mode) for the NOT NULL and foreign keys; ``events`` is never touched, so
its append-only triggers stay.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

DEFAULT = {'id': 1, 'code': '1F', 'name_zh': '1 层', 'name_en': 'Floor 1', 'sort_order': 0}
OWNED = ('zones', 'doors', 'points', 'roster', 'rollcalls')  # every row on a floor


def upgrade() -> None:
    floors = op.create_table('floors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_floors')),
    sa.UniqueConstraint('code', name=op.f('uq_floors_code'))
    )
    op.bulk_insert(floors, [DEFAULT])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT setval(pg_get_serial_sequence('floors', 'id'), 2, false)")

    for table in OWNED + ('screens', 'alerts'):
        op.add_column(table, sa.Column('floor_id', sa.Integer(), nullable=True))
    for table in OWNED + ('screens',):
        op.execute(sa.text(f"UPDATE {table} SET floor_id = :f").bindparams(f=DEFAULT['id']))
    op.execute(sa.text("UPDATE alerts SET floor_id = :f WHERE door_id IS NOT NULL").bindparams(f=DEFAULT['id']))

    for table in OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('floor_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(op.f(f'fk_{table}_floor_id_floors'), 'floors', ['floor_id'], ['id'])
            if table == 'rollcalls':
                batch_op.drop_constraint('uq_rollcalls_day_shift', type_='unique')
                batch_op.create_unique_constraint('uq_rollcalls_day_shift_floor', ['day', 'shift_code', 'floor_id'])
    for table in ('screens', 'alerts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(op.f(f'fk_{table}_floor_id_floors'), 'floors', ['floor_id'], ['id'])


def downgrade() -> None:
    for table in ('alerts', 'screens') + OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'fk_{table}_floor_id_floors'), type_='foreignkey')
            if table == 'rollcalls':
                batch_op.drop_constraint('uq_rollcalls_day_shift_floor', type_='unique')
                batch_op.create_unique_constraint('uq_rollcalls_day_shift', ['day', 'shift_code'])
            batch_op.drop_column('floor_id')
    op.drop_table('floors')
