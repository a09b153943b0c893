"""event log hash chain and append-only triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 02:10:00.000000

Adds the chain columns (``seq``, ``prev_hash``, ``hash``) to ``events``, the ``event_log_purge`` marker
table, and the triggers that make ``events`` append-only on SQLite and PostgreSQL:

* INSERT of a row that is already sealed (any chain column set) is refused: only the sealer seals.
* UPDATE is refused unless the row is still unsealed and only the chain columns change (the sealer).
* DELETE is refused unless the row is sealed and a purge marker in the same transaction covers its
  ``seq`` (the retention purge, kiosk.store.eventlog.purge); TRUNCATE is refused on PostgreSQL.

Rows already in the table stay unsealed here; the sealer chains them, in id order, on its first run.
The SQLite UPDATE trigger lists the columns it protects: a later migration that adds a column to
``events`` must recreate it. The PostgreSQL trigger compares whole rows and needs no such care.
"""
from alembic import op
import sqlalchemy as sa
import kiosk.store.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_CONTENT = ("id", "at", "kind", "actor", "subject", "outcome", "reason", "rule", "data")

SQLITE_TRIGGERS = [
    """CREATE TRIGGER events_sealed_insert_refused BEFORE INSERT ON events
       WHEN NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'event log is append-only: rows are inserted unsealed'); END""",
    f"""CREATE TRIGGER events_update_refused BEFORE UPDATE ON events
       WHEN NOT (OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
                 AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
                 AND {' AND '.join(f'NEW.{c} IS OLD.{c}' for c in _CONTENT)})
       BEGIN SELECT RAISE(ABORT, 'event log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER events_delete_refused BEFORE DELETE ON events
       WHEN OLD.seq IS NULL OR NOT EXISTS (SELECT 1 FROM event_log_purge p WHERE p.through_seq >= OLD.seq)
       BEGIN SELECT RAISE(ABORT, 'event log is append-only: DELETE refused'); END""",
]

POSTGRESQL_FUNCTION = """
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'event log is append-only: rows are inserted unsealed';
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
           AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
           AND (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash') = (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash') THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'event log is append-only: UPDATE of event % refused', OLD.id;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.seq IS NOT NULL AND EXISTS (SELECT 1 FROM event_log_purge p WHERE p.through_seq >= OLD.seq) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'event log is append-only: DELETE of event % refused', OLD.id;
    END IF;
    RAISE EXCEPTION 'event log is append-only: % refused', TG_OP;
END
$$
"""

POSTGRESQL_TRIGGERS = [
    """CREATE TRIGGER events_sealed_insert_refused BEFORE INSERT ON events FOR EACH ROW
       WHEN (NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL)
       EXECUTE FUNCTION events_append_only()""",
    "CREATE TRIGGER events_update_refused BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only()",
    "CREATE TRIGGER events_delete_refused BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only()",
    "CREATE TRIGGER events_truncate_refused BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()",
]

TRIGGER_NAMES = ("events_sealed_insert_refused", "events_update_refused", "events_delete_refused",
                 "events_truncate_refused")


def upgrade() -> None:
    op.add_column('events', sa.Column('seq', sa.BigInteger(), nullable=True))
    op.add_column('events', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('events', sa.Column('hash', sa.String(length=64), nullable=True))
    op.create_index('uq_events_seq', 'events', ['seq'], unique=True)
    op.create_index('ix_events_unsealed', 'events', ['id'], unique=False,
                    sqlite_where=sa.text('seq IS NULL'), postgresql_where=sa.text('seq IS NULL'))
    op.create_table('event_log_purge',
    sa.Column('through_seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('through_seq', name=op.f('pk_event_log_purge'))
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)
    elif dialect == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for ddl in POSTGRESQL_TRIGGERS:
            op.execute(ddl)
    else:  # the chain would still verify, but nothing would stop an UPDATE: refuse rather than pretend
        raise NotImplementedError(f"append-only triggers for {dialect} are not written")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON events" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    op.drop_table('event_log_purge')
    op.drop_index('ix_events_unsealed', table_name='events',
                  sqlite_where=sa.text('seq IS NULL'), postgresql_where=sa.text('seq IS NULL'))
    op.drop_index('uq_events_seq', table_name='events')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
