"""events: an unsealed row goes into two fewer indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:00:00

Every badge tap and door event commits one ``events`` row, and a synced SQLite commit takes longer the more
pages it writes (on the machine the benchmarks run on, measured in turn: p99 0.31 ms for one page, 0.41 ms
for three, 0.70 ms for eight). A new, unsealed row wrote the table's page and one page of each of six
indexes. Two of those did nothing for it:

* ``uq_events_seq`` becomes partial (``WHERE seq IS NOT NULL``). Unsealed rows have no seq and are no longer
  in it; every seq is still unique, and every query by seq names one, which the partial index serves.
* SQLite no longer keeps ``ix_events_unsealed``. There ids are handed out in commit order (one writer at a
  time) and the sealer seals in id order, so no unsealed row lies below the chain's head and the sealer
  finds the rest on the primary key (``kiosk.store.eventlog.unsealed_rows``). PostgreSQL keeps the index:
  a transaction holding a lower id can commit after a higher id was sealed.

Indexes only: ``events`` is not rebuilt, so its append-only triggers stay.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SEALED = sa.text('seq IS NOT NULL')


def upgrade() -> None:
    op.drop_index('uq_events_seq', table_name='events')
    op.create_index('uq_events_seq', 'events', ['seq'], unique=True, sqlite_where=SEALED, postgresql_where=SEALED)
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_events_unsealed', table_name='events')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_events_unsealed', 'events', ['id'], unique=False, sqlite_where=sa.text('seq IS NULL'))
    op.drop_index('uq_events_seq', table_name='events')
    op.create_index('uq_events_seq', 'events', ['seq'], unique=True)
