"""catalog_version: a count of changes to the floor's set-up, kept by triggers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00

Every badge tap needs the shifts, the floor of the kiosk screen that read it and whether its reader stands
at a door. Those change only when an administrator imports or edits, so each process keeps them in memory
(kiosk.services.catalog) and reads one number per tap: ``catalog_version.version``, which triggers raise on
every change to ``shifts``, to ``screens`` (name, floor), ``floors`` (id, order) and ``doors`` (id, readers),
whichever process, command or hand-written statement made it. Live columns (a door's state, a screen's last
contact) do not count.

A later migration that rebuilds one of these tables on SQLite (batch mode copies the table, and its triggers
go with the old copy) must create the triggers again: tests/integration/test_catalog.py fails otherwise.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# table -> the columns whose UPDATE changes the set-up (None: any column)
WATCHED = {'shifts': None, 'screens': ('name', 'floor_id'), 'floors': ('id', 'sort_order'),
           'doors': ('id', 'readers')}
BUMP = "UPDATE catalog_version SET version = version + 1"


def _sqlite_triggers() -> list[tuple[str, str]]:
    out = []
    for table, columns in WATCHED.items():
        update = "UPDATE" + (f" OF {', '.join(columns)}" if columns else "")
        for op_name, event in (('insert', 'INSERT'), ('update', update), ('delete', 'DELETE')):
            name = f'catalog_{table}_{op_name}'
            out.append((name, f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END"))
    return out


def upgrade() -> None:
    table = op.create_table('catalog_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_version'))
    )
    op.bulk_insert(table, [{'id': 1, 'version': 1}])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"CREATE FUNCTION catalog_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN {BUMP}; RETURN NULL; END $$")
        for name, columns in WATCHED.items():
            update = "UPDATE" + (f" OF {', '.join(columns)}" if columns else "")
            op.execute(f"CREATE TRIGGER catalog_{name} AFTER INSERT OR DELETE OR TRUNCATE OR {update} ON {name} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION catalog_bump()")
    else:
        for _name, ddl in _sqlite_triggers():
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS catalog_{name} ON {name}")
        op.execute("DROP FUNCTION IF EXISTS catalog_bump()")
    else:
        for name, _ddl in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('catalog_version')
