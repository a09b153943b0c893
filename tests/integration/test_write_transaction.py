"""Write transactions on SQLite: one connection for this process's writes, kept out of the pool."""

from __future__ import annotations

import shutil
import threading

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError

from kiosk.store.db import make_engine, write_transaction
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


def test_a_write_inside_a_write_on_one_thread_fails_as_two_writers_do(engine):
    with write_transaction(engine):
        pass  # the writer's connection is open: the nested write gets the pool's
    with engine.connect() as pooled:  # which fails in 50 ms, not the usual 5 s
        pooled.exec_driver_sql("PRAGMA busy_timeout=50")
    with write_transaction(engine) as conn:
        _add(conn, "1")
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
