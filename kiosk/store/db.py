"""Engine and sessions: one sessionmaker per app, SQLite tuned for events, schema checked at start."""

from __future__ import annotations

import logging
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from kiosk.store.lean import Prepared

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    """The database schema is not at the code's migration head."""


def _connect_args(backend: str) -> dict[str, Any]:
    """What every connection is opened with: SQLite waits 5 s for a lock; PostgreSQL gives up connecting after 3 s."""
    if backend == "sqlite":
        return {"check_same_thread": False, "timeout": 5.0}
    # A database that restarts: a short connect timeout makes a request fail fast with a clear error
    # instead of hanging while the server is away.
    return {"connect_timeout": 3} if backend == "postgresql" else {}


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, synchronous=FULL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args=_connect_args("sqlite"))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Events must survive a power cut: WAL + FULL sync; 5 s wait when another writer holds the lock.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
        return engine
    # A database that restarts: pre-ping replaces dead pooled connections.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=5,
                         connect_args=_connect_args(parsed.get_backend_name()))


_BEGIN_IMMEDIATE = Prepared(text("BEGIN IMMEDIATE"))  # every tap and door event starts with it
_WRITERS: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


def writer_lock(engine: Engine) -> threading.RLock:
    """This process's turn to write to a SQLite database: its threads queue here, not in SQLite.

    SQLite's busy handler sleeps 1, 2, 5, 10 ... ms between tries for a lock another connection holds,
    so a badge tap that met the sealer's write would wait milliseconds after the write ended. Threads of
    one process wait on this lock instead and go the moment it is free; other processes (the command
    line) still meet the busy handler. Reentrant: a nested write on the same thread fails in SQLite as
    before (the busy timeout) instead of hanging here.
    """
    with _WRITERS_GUARD:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.RLock()
        return lock


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads shared state and writes it back, with no other writer in between.

    pysqlite opens its transaction only at the first write, so two threads could read the same door
    state, and the later commit would silently undo the earlier one (a timer round undoing a contact
    change: a lost forced-open alarm). On SQLite this takes the write lock first (``BEGIN IMMEDIATE``),
    after this process's :func:`writer_lock`: its own threads queue there, other processes wait in
    SQLite's busy handler. On PostgreSQL, callers lock the rows they read and will write back
    (``SELECT ... FOR UPDATE``, which SQLite ignores).
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    # pysqlite begins a transaction by itself only before a write, and only when none is open: this
    # explicit BEGIN IMMEDIATE is the transaction, which :func:`_end` commits or rolls back.
    with writer_lock(engine):
        conn = _writer_connection(engine)
        if conn.in_transaction() or conn.connection.dbapi_connection.in_transaction:
            # A write inside a write on one thread: a second connection, which waits for the first's lock
            # (SQLite's busy timeout) and fails, as two writers do.
            with engine.begin() as nested:
                _BEGIN_IMMEDIATE.run(nested)
                yield nested
            return
        # The transaction is the driver's own: Core's begin and commit (events, transaction objects)
        # made an empty write transaction cost 23 µs instead of 13 (raw sqlite3: 6). A statement run
        # through Core meanwhile makes Core begin its own transaction on top, which Core then ends.
        _BEGIN_IMMEDIATE.run(conn)
        try:
            yield conn
        except BaseException:
            _end(conn, commit=False)
            raise
        _end(conn, commit=True)


def _end(conn: Connection, *, commit: bool) -> None:
    """Commit or roll back the transaction :func:`write_transaction` began on the driver, errors as Core's.

    A commit the database refuses (a deferred constraint, a full disk) leaves no transaction open behind
    it: the next write would otherwise fail with "cannot start a transaction within a transaction".
    """
    if conn.invalidated:
        return  # the connection is gone, and its transaction with it; the next write gets a new one
    raw = conn.connection.dbapi_connection
    assert raw is not None
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        if conn.in_transaction():  # a statement went through Core, which began its own: Core ends it
            if commit:
                conn.commit()
            else:
                conn.rollback()
        elif commit:
            raw.commit()
        else:
            raw.rollback()
    except (dbapi_error, DBAPIError) as exc:
        try:
            if conn.get_transaction() is not None:
                conn.rollback()  # Core's, which a failed commit leaves in place, refusing every statement
            if raw.in_transaction:
                raw.rollback()
        except (dbapi_error, DBAPIError):
            conn.invalidate()
        if isinstance(exc, DBAPIError):
            raise
        raise DBAPIError.instance("COMMIT" if commit else "ROLLBACK", None, exc, dbapi_error,
                                  dialect=conn.dialect) from exc


def _writer_connection(engine: Engine) -> Connection:
    """The connection this process writes to a SQLite database on (call holding :func:`writer_lock`).

    Writes take turns on the writer lock anyway, so they share one connection, kept out of the pool:
    checking a connection out of the pool and back in for every badge tap took longer than SQLite's
    own work for it. A connection the pool gave up on (invalidated) is replaced; ``engine.dispose()``
    closes it.
    """
    conn: Connection | None = getattr(engine, "_kiosk_writer", None)
    if conn is None or conn.closed or conn.invalidated:
        conn = engine.connect()
        engine._kiosk_writer = conn  # type: ignore[attr-defined]
        if not event.contains(engine, "engine_disposed", _close_writer):
            event.listen(engine, "engine_disposed", _close_writer)
    return conn


def _close_writer(engine: Engine) -> None:
    """Close the shared writer connection when the engine's pool is disposed."""
    with writer_lock(engine):
        conn = engine.__dict__.pop("_kiosk_writer", None)
        if conn is not None:
            conn.close()


def ping(engine: Engine) -> None:
    """Run ``SELECT 1`` through the engine's pool: what any request needs to work."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def ping_without_pool(engine: Engine) -> None:
    """Run ``SELECT 1`` on a new connection outside the pool, with the same short connect timeout.

    When :func:`ping` fails but this works, the database is fine and this process's pool is not.
    """
    probe = create_engine(engine.url, poolclass=NullPool, connect_args=_connect_args(engine.url.get_backend_name()))
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        probe.dispose()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """The one sessionmaker of a process."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic config pointing at the packaged migrations, for ``url``."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema that is missing or behind the code."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no schema yet" if current is None else f"is at revision {current}, the code needs {head}"
        raise SchemaOutOfDate(f"The database {where} {state}. Run `kiosk db upgrade` (with the same --instance) to fix it.")


def sync_sequences(conn: Any, tables: tuple[str, ...]) -> None:
    """After inserting explicit ids (demo data, fixtures), move PostgreSQL's id sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)")
