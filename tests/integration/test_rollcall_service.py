"""Roll call through the service layer on a real SQLite file: saved, logged, published after commit."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from floorfixtures import DAY, build_floor, enter_pin, refusing_inserts, uid_of
from kiosk.services import rollcall
from kiosk.services.errors import NotPermitted, ServiceError, StorageUnavailable
from kiosk.store.models import AttendanceRecord, Event, Staff

TZ = ZoneInfo("Asia/Shanghai")


def local(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 30, hh, mm, tzinfo=TZ).astimezone(timezone.utc)


@pytest.fixture
def floor(ctx, clock):
    build_floor(ctx)
    clock.set(local(9, 10))
    return ctx


def events(ctx, kind):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Event.__table__).where(Event.__table__.c.kind == kind)
                            .order_by(Event.__table__.c.id)).all()


def test_a_rostered_operator_taps_and_is_present_saved_logged_and_published(floor):
    result = rollcall.record_tap(floor, "04:00:00:00:00:00:02")
    assert (result["outcome"], result["name"], result["seat"]) == ("present", "李娜", "A-02")
    board = rollcall.board(floor)
    row = next(r for r in board["rows"] if r["employee_no"] == "20002")
    assert row["status"] == "present" and board["counts"]["present"] == 1
    assert board["counts"]["expected"] == 6
    logged = events(floor, "rollcall_tap")
    assert [(e.outcome, e.subject, e.actor) for e in logged] == [("present", uid_of("20002"), "reader:kiosk")]
    assert floor.published[-1][0] == "tap_recorded" and floor.published[-1][1]["outcome"] == "present"


def test_a_second_tap_is_a_duplicate_and_keeps_the_first_time(floor, clock):
    rollcall.record_tap(floor, uid_of("20002"))
    clock.set(local(9, 20))
    assert rollcall.record_tap(floor, uid_of("20002"))["outcome"] == "duplicate"
    with floor.engine.connect() as conn:
        marks = conn.execute(select(AttendanceRecord.__table__)).all()
    assert len(marks) == 1 and marks[0].at == local(9, 10)


@pytest.mark.parametrize("employee_no,outcome", [("20005", "badge_lost"), ("20006", "staff_left"),
                                                 ("20007", "not_on_roster"), ("20008", "not_on_roster")])
def test_refused_taps_are_logged_with_their_reason_and_mark_nobody(floor, employee_no, outcome):
    result = rollcall.record_tap(floor, uid_of(employee_no))
    assert result["outcome"] == outcome and not result["accepted"]
    assert events(floor, "rollcall_tap")[-1].outcome == outcome
    assert rollcall.board(floor)["counts"]["pending"] == 6


def test_not_on_roster_names_the_shift_the_person_is_on(floor):
    assert rollcall.record_tap(floor, uid_of("20007"))["detail"] == {"on_shift": "N", "on_shift_name": "夜班"}


def test_an_unknown_badge_is_refused_and_logged_without_a_person(floor):
    result = rollcall.record_tap(floor, "DEADBEEF")
    assert result["outcome"] == "unknown_badge" and result["name"] is None
    assert events(floor, "rollcall_tap")[-1].subject == "DEADBEEF"


def test_a_uid_that_is_not_hex_is_refused_before_touching_the_database(floor):
    with pytest.raises(ServiceError, match="not hexadecimal"):
        rollcall.record_tap(floor, "hello")
    assert events(floor, "rollcall_tap") == []


def test_the_leader_tapping_late_for_the_meeting_is_recorded(floor, clock):
    clock.set(local(9, 25))
    result = rollcall.record_tap(floor, uid_of("20001"))
    assert result["outcome"] == "present" and result["leader_late"]
    row = next(r for r in rollcall.board(floor)["rows"] if r["employee_no"] == "20001")
    assert row["leader_late"]
    assert json.loads(events(floor, "rollcall_tap")[-1].data)["leader_late"] is True


def test_only_an_identified_leader_can_mark_by_hand(floor):
    with pytest.raises(NotPermitted, match="tap your leader badge"):
        rollcall.mark_by_hand(floor, "kiosk", "20003", "present", "忘带工牌")


def test_a_leader_marks_a_forgotten_badge_present_by_hand_with_who_and_why(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    result = rollcall.mark_by_hand(floor, "kiosk", "20003", "present", "忘带工牌")
    assert result["status"] == "present" and result["by"] == "20001"
    row = next(r for r in rollcall.board(floor)["rows"] if r["employee_no"] == "20003")
    assert row["manual"] and row["note"] == "忘带工牌"
    assert events(floor, "rollcall_marked")[-1].actor == "20001"


def test_a_hand_mark_needs_a_reason(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    with pytest.raises(ServiceError, match="reason"):
        rollcall.mark_by_hand(floor, "kiosk", "20003", "present", "  ")


def test_the_leader_session_ends_after_sixty_seconds_idle(floor, clock):
    rollcall.record_tap(floor, uid_of("20001"))
    clock.set(local(9, 11))
    with pytest.raises(NotPermitted):
        rollcall.close_leader(floor, "kiosk")


def test_an_operator_tap_does_not_open_the_leader_console(floor):
    rollcall.record_tap(floor, uid_of("20002"))
    with pytest.raises(NotPermitted):
        rollcall.close_leader(floor, "kiosk")


def test_closing_writes_the_attendance_record_and_lists_absentees(floor, clock):
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    rollcall.record_tap(floor, uid_of("20002"))
    rollcall.mark_by_hand(floor, "kiosk", "20004", "excused", "病假")
    clock.set(local(9, 32))
    rollcall.record_tap(floor, uid_of("20003"))
    rollcall.record_tap(floor, uid_of("20001"))  # the leader identifies again (console idle) ...
    enter_pin(floor)  # ... and, the session being new, enters the PIN again
    result = rollcall.close_leader(floor, "kiosk")
    assert result["summary"] == {"present": 2, "late": 1, "absent": 2, "excused": 1}
    assert sorted(a["employee_no"] for a in result["absentees"]) == ["20005", "20006"]
    board = rollcall.board(floor)
    assert board["closed"]["by"] == "20001" and board["counts"]["absent"] == 2
    # A repeat tap after close changes nothing.
    assert rollcall.record_tap(floor, uid_of("20002"))["outcome"] == "duplicate"
    assert rollcall.board(floor)["counts"] == board["counts"]


def test_a_tap_after_the_leader_closed_early_is_refused_as_outside_the_window(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    rollcall.close_leader(floor, "kiosk")
    result = rollcall.record_tap(floor, uid_of("20003"))
    assert result["outcome"] == "outside_window" and result["detail"] == {"closed": "1"}


def test_roll_call_closes_automatically_at_window_end_once(floor, clock):
    rollcall.record_tap(floor, uid_of("20002"))
    clock.set(local(9, 39))
    assert rollcall.tick(floor) == []
    clock.set(local(9, 40))
    closed = rollcall.tick(floor)
    assert len(closed) == 1 and closed[0]["by"] == "auto" and closed[0]["summary"]["absent"] == 5
    assert rollcall.tick(floor) == []


def test_the_daily_question_goes_to_a_present_operator_and_the_answer_is_recorded(floor):
    rollcall.record_tap(floor, uid_of("20002"))
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    asked = rollcall.pick_question(floor, "kiosk", random.Random(3))
    assert asked["employee_no"] == "20002" and asked["question"] == "供暖补贴转哪里？"
    answered = rollcall.record_answer(floor, "kiosk", asked["id"], True)
    assert answered["answered_well"] is True
    assert rollcall.board(floor)["question"]["answered_well"] is True


@pytest.mark.sqlite_only
def test_a_locked_database_refuses_the_tap_visibly_and_records_nothing(floor, instance):
    import sqlite3

    floor.engine.dispose()
    blocker = sqlite3.connect(instance / "kiosk.db", timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        import sqlalchemy

        @sqlalchemy.event.listens_for(floor.engine, "connect")
        def _short(dbapi_conn, _rec):
            dbapi_conn.execute("PRAGMA busy_timeout=50")  # do not wait the production 5 s

        with pytest.raises(StorageUnavailable):
            rollcall.record_tap(floor, uid_of("20002"))
        assert floor.published[-1][0] == "tap_failed"
    finally:
        blocker.rollback()
        blocker.close()
    assert rollcall.board(floor)["counts"]["present"] == 0


@pytest.mark.sqlite_only
def test_a_tap_refused_again_after_its_race_retry_is_not_recorded_and_says_so_instead_of_looping(floor, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="kiosk.services.rollcall")
    with refusing_inserts(floor.engine, "attendance"), pytest.raises(StorageUnavailable) as refused:
        rollcall.record_tap(floor, uid_of("20002"))
    assert refused.value.code == "tap_not_recorded" and "Please tap again" in refused.value.message
    assert floor.published[-1][0] == "tap_failed" and floor.published[-1][1]["error"] == "tap_not_recorded"
    assert sum("raced an earlier tap" in r.message for r in caplog.records) == 1  # one retry, then no more
    assert any("refused it twice" in r.message for r in caplog.records)
    assert events(floor, "rollcall_tap") == []
    assert rollcall.record_tap(floor, uid_of("20002"))["outcome"] == "present"


_DISK_REFUSES = """
import json, resource, signal, sys
from datetime import datetime
from pathlib import Path
from floorfixtures import instance_context, uid_of
from kiosk.services import rollcall
from kiosk.services.errors import StorageUnavailable

with instance_context(Path(sys.argv[1])) as ctx:
    published = []
    ctx.publish = lambda name, payload: published.append(name)
    at = datetime.fromisoformat(sys.argv[2])
    with ctx.engine.connect() as conn:  # an empty WAL: the next commit must write to the end of the file
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # no file may grow: the disk refuses every write
    try:
        first = rollcall.record_tap(ctx, uid_of("20002"), at=at)["outcome"]
    except StorageUnavailable as exc:
        first = exc.message
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again
    second = rollcall.record_tap(ctx, uid_of("20003"), at=at)["outcome"]
print(json.dumps({"first": first, "second": second, "published": published}))
"""


@pytest.mark.sqlite_only
def test_a_disk_that_refuses_the_write_refuses_the_tap_visibly_and_the_next_tap_goes_through(floor, instance):
    """A full disk, as far as SQLite can tell: the commit's write fails (here: no file may grow)."""
    import subprocess
    import sys
    from pathlib import Path

    floor.engine.dispose()
    tests = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _DISK_REFUSES, str(instance), floor.now().isoformat()],
                          capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "PYTHONPATH": f"{tests.parent}:{tests}"})
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["first"].startswith("The tap was not recorded: the database is unavailable.")
    assert got["second"] == "present"
    assert got["published"] == ["tap_failed", "tap_recorded"]
    assert "not recorded: database refused the write" in done.stderr  # logged, with the database's reason
    board = rollcall.board(floor)
    status = {r["employee_no"]: r["status"] for r in board["rows"]}
    assert (status["20002"], status["20003"]) == ("pending", "present")
    assert [(e.subject, e.outcome) for e in events(floor, "rollcall_tap")] == [(uid_of("20003"), "present")]


@pytest.mark.sqlite_only
def test_a_tap_arriving_while_the_roll_call_closes_waits_and_is_refused_never_both_absent_and_present(
        floor, monkeypatch):
    """The close reads the marks, then writes the absentees: a tap committing in between would be present
    and absent at once (or make the close fail). On SQLite the tap waits for the close and is refused."""
    import threading

    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    tap_result: list = []
    tap = threading.Thread(target=lambda: tap_result.append(rollcall.record_tap(floor, uid_of("20003"))))
    real_close = rollcall.rules.close

    def close_while_a_badge_is_tapped(*args, **kwargs):
        tap.start()
        tap.join(0.3)  # left to itself, the tap would commit now
        return real_close(*args, **kwargs)

    monkeypatch.setattr(rollcall.rules, "close", close_while_a_badge_is_tapped)
    result = rollcall.close_leader(floor, "kiosk")
    tap.join(10)
    assert not tap.is_alive()
    absent = {a["employee_no"] for a in result["absentees"]}
    assert "20003" in absent
    assert tap_result[0]["outcome"] == "outside_window"
    att, staff = AttendanceRecord.__table__, Staff.__table__
    with floor.engine.connect() as conn:
        marks = conn.execute(select(att.c.status).join(staff, staff.c.id == att.c.staff_id)
                             .where(staff.c.employee_no == "20003")).scalars().all()
    assert marks == ["absent"]
