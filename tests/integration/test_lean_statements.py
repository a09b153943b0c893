"""Statements run straight on the driver (kiosk.store.lean) store and read exactly what Core does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError

from kiosk.store.db import write_transaction
from kiosk.store.eventlog import _INSERT, log_event
from kiosk.store.lean import Prepared
from kiosk.store.models import Badge, Door, Event, Staff

_events = Event.__table__
_ROWS = select(_events.c.id, _events.c.at, _events.c.kind, _events.c.actor, _events.c.subject, _events.c.data) \
    .where(or_(_events.c.kind == "lean", _events.c.kind == "core")).order_by(_events.c.id)


def test_an_insert_and_a_select_give_what_core_gives_times_included(ctx):
    at = datetime(2026, 11, 29, 7, 19, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    lean = Prepared(_INSERT, keys=("at", "kind", "subject", "data"))  # the other columns take their defaults
    with write_transaction(ctx.engine) as conn:
        lean.run(conn, {"at": at, "kind": "lean", "subject": "中文", "data": "{}"})
        conn.execute(_INSERT, {"at": at, "kind": "core", "subject": "中文", "data": "{}"})
    with ctx.engine.connect() as conn:
        core_rows = conn.execute(_ROWS).all()
        lean_rows = Prepared(_ROWS.where(_events.c.id > bindparam("after"))).all(conn, {"after": 0})
        raw_at = conn.exec_driver_sql("SELECT at FROM events WHERE kind IN ('lean', 'core') ORDER BY id").all()
    assert [tuple(r)[1:] for r in lean_rows] == [tuple(r)[1:] for r in core_rows]
    assert lean_rows[0].at == at and lean_rows[0].at.tzinfo is not None  # read back aware, as Core does
    assert lean_rows[0].actor == ""  # the column's default, as Core would have written
    assert raw_at[0] == raw_at[1]  # stored the same way, byte for byte


def test_a_constraint_the_driver_refuses_comes_out_as_sqlalchemys_integrity_error(ctx):
    with write_transaction(ctx.engine) as conn:
        conn.execute(insert(Staff.__table__).values(employee_no="1", name="A", role="operator"))
        staff_id = conn.execute(select(Staff.__table__.c.id)).scalar_one()
        conn.execute(insert(Badge.__table__).values(uid="04AA", staff_id=staff_id, status="active"))
    duplicate = Prepared(insert(Badge.__table__), keys=("uid", "staff_id", "status"))
    with pytest.raises(IntegrityError):
        with write_transaction(ctx.engine) as conn:
            duplicate.run(conn, {"uid": "04AA", "staff_id": staff_id, "status": "active"})
    with ctx.engine.connect() as conn:  # the failed transaction left nothing behind and the pool works
        assert conn.execute(select(Badge.__table__.c.uid)).scalars().all() == ["04AA"]


def test_log_event_on_the_driver_and_through_a_session_store_the_same_row(ctx):
    at = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
    with ctx.engine.begin() as conn:
        log_event(conn, at=at, kind="lean", actor="reader:kiosk", data={"b": 2, "a": "到"})
    with ctx.sessions.begin() as session:
        log_event(session, at=at, kind="core", actor="reader:kiosk", data={"b": 2, "a": "到"})
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(_events.c.at, _events.c.actor, _events.c.data)
                            .where(_events.c.kind.in_(["lean", "core"])).order_by(_events.c.id)).all()
    assert rows[0] == rows[1] and rows[0].data == '{"a":"到","b":2}'


def test_statements_it_cannot_run_faithfully_are_refused_when_first_used(ctx):
    expanding = Prepared(select(_events.c.id).where(_events.c.kind.in_(bindparam("kinds", expanding=True))))
    with ctx.engine.connect() as conn, pytest.raises(ValueError, match="IN lists"):
        expanding.all(conn, {"kinds": ["a"]})


def test_a_door_row_with_its_numbers_reads_the_same_as_through_core_on_either_database(ctx):
    """PostgreSQL's driver reports each column's type; numbers are processed by what it reports."""
    from kiosk.services import doors

    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main", "exit_point": "exit:main",
                              "readers": ["door-main"], "prewarn_s": 12.5, "alarm_s": 30, "x": 1.5, "y": 2}])
    door = Door.__table__
    query = select(door).where(door.c.id == bindparam("id"))
    with ctx.engine.connect() as conn:
        core = conn.execute(query, {"id": "main"}).first()
        lean = Prepared(query).first(conn, {"id": "main"})
    assert tuple(lean) == tuple(core) and lean.prewarn_s == 12.5 and isinstance(lean.alarm_s, float)


def test_many_rows_go_through_the_drivers_executemany_with_the_same_processing(ctx):
    from kiosk.store.eventlog import log_events

    at = datetime(2026, 11, 29, 8, 0, 0, 5, tzinfo=timezone.utc)
    rows = [{"at": at + timedelta(seconds=i), "kind": "lean", "subject": f"p{i}", "data": {"i": i}} for i in range(5)]
    with write_transaction(ctx.engine) as conn:
        log_events(conn, rows)  # more than a few: one executemany on the driver
    with ctx.sessions.begin() as session:
        log_events(session, [{**r, "kind": "core"} for r in rows])  # through Core
    with ctx.engine.connect() as conn:
        got = conn.execute(select(_events.c.kind, _events.c.at, _events.c.subject, _events.c.data)
                           .where(or_(_events.c.kind == "lean", _events.c.kind == "core")).order_by(_events.c.id)).all()
    lean, core = [tuple(r)[1:] for r in got if r.kind == "lean"], [tuple(r)[1:] for r in got if r.kind == "core"]
    assert lean == core and len(lean) == 5 and lean[0][0] == at
