"""Write transactions on SQLite: one connection for this process's writes, kept out of the pool."""

from __future__ import annotations

import shutil
import threading

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from kiosk.store.db import make_engine, write_transaction
from kiosk.store.lean import Prepared
from kiosk.store.models import Staff

pytestmark = pytest.mark.sqlite_only

_staff = Staff.__table__


@pytest.fixture
def engine(tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "kiosk.db")
    eng = make_engine(f"sqlite:///{tmp_path / 'kiosk.db'}")
    yield eng
    eng.dispose()


def _add(conn, no: str) -> None:
    conn.execute(insert(_staff).values(employee_no=no, name=f"N{no}", role="operator"))


_ADD_LEAN = Prepared(insert(_staff), keys=("employee_no", "name", "role"))


def _add_lean(conn, no: str) -> None:
    _ADD_LEAN.run(conn, {"employee_no": no, "name": f"N{no}", "role": "operator"})


def _names(engine) -> list[str]:
    with engine.connect() as conn:
        return [r.employee_no for r in conn.execute(select(_staff.c.employee_no).order_by(_staff.c.id))]


def _count(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(_staff.c.id)).all())


def test_writes_from_several_threads_share_one_connection_and_all_land(engine):
    seen = set()

    def write(t: int) -> None:
        for i in range(20):
            with write_transaction(engine) as conn:
                seen.add(id(conn.connection.dbapi_connection))
                _add(conn, f"{t}-{i}")

    workers = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert _count(engine) == 80
    assert len(seen) == 1
    assert engine.pool.checkedout() == 1  # the writer's; every reader's went back


def test_a_failed_write_is_rolled_back_and_the_next_one_goes_through(engine):
    with pytest.raises(RuntimeError):
        with write_transaction(engine) as conn:
            _add(conn, "1")
            raise RuntimeError("refused half way")
    with write_transaction(engine) as conn:
        _add(conn, "2")
    with engine.connect() as conn:
        assert [r.employee_no for r in conn.execute(select(_staff.c.employee_no))] == ["2"]


@pytest.mark.parametrize("through_core", [False, True])
def test_a_write_inside_a_write_on_one_thread_fails_as_two_writers_do(engine, through_core):
    with write_transaction(engine):
        pass  # the writer's connection is open: the nested write gets the pool's
    with engine.connect() as pooled:  # which fails in 50 ms, not the usual 5 s
        pooled.exec_driver_sql("PRAGMA busy_timeout=50")
    with write_transaction(engine) as conn:
        (_add if through_core else _add_lean)(conn, "1")
        with pytest.raises(OperationalError, match="locked"):
            with write_transaction(engine) as inner:
                inner.execute(text("SELECT 1"))
    assert _count(engine) == 1  # the outer write still committed


def test_another_process_writing_meanwhile_is_waited_for(engine):
    other = make_engine(str(engine.url))
    with other.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        _add(conn, "other")
        threading.Timer(0.2, conn.commit).start()
        with write_transaction(engine) as mine:  # waits in SQLite's busy handler for the other's commit
            _add(mine, "mine")
    other.dispose()
    assert _count(engine) == 2


@pytest.mark.parametrize("gone", ["disposed", "invalidated"])
def test_a_writer_connection_closed_by_dispose_or_given_up_by_the_pool_is_replaced(engine, gone):
    with write_transaction(engine) as conn:
        first = conn
        _add(conn, "1")
    if gone == "disposed":
        engine.dispose()
        assert first.closed
    else:
        first.invalidate()
    with write_transaction(engine) as conn:
        assert conn is not first
        _add(conn, "2")
    assert _count(engine) == 2


def test_statements_on_the_driver_and_through_core_commit_and_roll_back_together(engine):
    with write_transaction(engine) as conn:
        _add_lean(conn, "1")
        assert not conn.in_transaction()  # the driver's transaction: Core has none of its own
    with pytest.raises(RuntimeError):
        with write_transaction(engine) as conn:
            _add_lean(conn, "2")
            _add(conn, "3")  # Core begins its own on top...
            raise RuntimeError("refused half way")
    with write_transaction(engine) as conn:
        _add(conn, "4")
        _add_lean(conn, "5")  # ... and commits it with the driver's statements in it
    assert _names(engine) == ["1", "4", "5"]


@pytest.mark.parametrize("through_core", [False, True])
def test_a_commit_the_database_refuses_raises_as_core_does_writes_nothing_and_the_next_write_goes(engine,
                                                                                                 through_core):
    defer = Prepared(text("PRAGMA defer_foreign_keys = ON"))  # the foreign keys are checked at COMMIT
    orphan = Prepared(text("INSERT INTO attendance (rollcall_id, staff_id, status, at, leader_late, manual) "
                           "VALUES (999, 999, 'present', '2026-11-29 08:00:00.000000', 0, 0)"))
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        with write_transaction(engine) as conn:
            defer.run(conn)
            (_add if through_core else _add_lean)(conn, "1")
            orphan.run(conn)
    writer = engine._kiosk_writer
    assert writer.get_transaction() is None and not writer.connection.dbapi_connection.in_transaction
    with write_transaction(engine) as conn:
        _add_lean(conn, "2")
        _add(conn, "3")
    assert _names(engine) == ["2", "3"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attendance")).scalar() == 0
