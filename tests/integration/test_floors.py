"""Several floors through the service layer: the migration puts a one-floor centre's rows on one floor, floors are
added and named, screens are paired to a floor, and each floor's roll call, doors and map are its own."""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from floorfixtures import LEADER_PIN, add_upper_floor, build_floor, enter_pin, uid_of
from kiosk.services import doors, floor, floors, pins, rollcall, screens, sensors
from kiosk.services.errors import ServiceError
from kiosk.store.db import make_engine, upgrade
from kiosk.store.models import AttendanceRecord, Floor, RollCall

TZ = ZoneInfo("Asia/Shanghai")
NORTH_UID = "04000000000009"  # 20009, the duty leader of 4F


def local(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 30, hh, mm, tzinfo=TZ).astimezone(timezone.utc)


# --- the migration ---------------------------------------------------------------------------------------------

@pytest.fixture
def empty_url(tmp_path: Path, request: pytest.FixtureRequest):
    """An empty database: a SQLite file, or (KIOSK_TEST_DATABASE=postgresql) a PostgreSQL database of its own."""
    if os.environ.get("KIOSK_TEST_DATABASE", "sqlite") != "postgresql":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin, user, _template = request.getfixturevalue("pg_template")
    name = f"floorkiosk_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_puts_every_existing_row_on_one_default_floor(empty_url):
    upgrade(empty_url, "0010")  # a one-floor centre's database, before floors
    engine = create_engine(empty_url, poolclass=NullPool)
    with engine.begin() as conn:
        for sql in (
                "INSERT INTO zones (id, name) VALUES ('A', 'A 区')",
                "INSERT INTO seats (id, zone_id, x, y) VALUES ('A-01', 'A', 10, 10)",
                "INSERT INTO shifts (code, name, start, \"end\") VALUES ('D', '白班', '09:30', '17:30')",
                "INSERT INTO staff (id, employee_no, name, role, post_level, skill_grade, active) "
                "VALUES (1, '20001', '王班长', 'leader', '', '', true)",
                "INSERT INTO roster (day, shift_code, staff_id, seat_id, duty) VALUES ('2026-11-30', 'D', 1, NULL, 'leader')",
                "INSERT INTO rollcalls (day, shift_code) VALUES ('2026-11-30', 'D')",
                "INSERT INTO points (id, kind, label, state, reconciled) VALUES ('door:main', 'door', '正门', 'closed', false)",
                "INSERT INTO doors (id, name, contact_point, readers, prewarn_s, alarm_s, entry_window_s, tailgate_s, state) "
                "VALUES ('main', '正门', 'door:main', '', 20, 30, 10, 15, '')",
                "INSERT INTO screens (name, paired_by) VALUES ('wall-1', '30002')",
                "INSERT INTO alerts (kind, condition, severity, rule, door_id, subject, message, raised_at, level, data) "
                "VALUES ('door_forced_open', 'forced_open', 'alarm', '§6.6', 'main', '正门', '', '2026-11-30 01:00:00', 0, '{}')",
                "INSERT INTO alerts (kind, condition, severity, rule, door_id, subject, message, raised_at, level, data) "
                "VALUES ('visitor_overstayed', '', 'warning', '§2.2', NULL, '周航', '', '2026-11-30 01:00:00', 0, '{}')"):
            conn.execute(text(sql))
    upgrade(empty_url)
    with engine.connect() as conn:
        assert conn.execute(select(Floor.__table__)).all() == [(1, "1F", "1 层", "Floor 1", 0)]
        for table in ("zones", "roster", "rollcalls", "points", "doors", "screens"):
            assert conn.execute(text(f"SELECT floor_id FROM {table}")).scalars().all() == [1], table
        # A door's alert is its door's floor's; one of no door concerns every floor.
        assert conn.execute(text("SELECT kind, floor_id FROM alerts ORDER BY id")).all() == [
            ("door_forced_open", 1), ("visitor_overstayed", None)]
    engine.dispose()
    # The code that names no floor still writes: a new zone lands on the only floor.
    eng = make_engine(empty_url)
    try:
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO floors (code, name_zh, name_en, sort_order) VALUES ('4F', '四层', '4F', 1)"))
            from sqlalchemy import insert

            from kiosk.store.models import Zone
            conn.execute(insert(Zone.__table__).values(id="B", name="B 区"))
            assert conn.execute(text("SELECT floor_id FROM zones WHERE id = 'B'")).scalar() == 1
            # Each floor now calls its own roll for the same shift.
            conn.execute(text("INSERT INTO rollcalls (day, shift_code, floor_id) VALUES ('2026-11-30', 'D', 2)"))
    finally:
        eng.dispose()


# --- floors and screens ----------------------------------------------------------------------------------------

def test_a_floor_is_added_renamed_and_refused_when_its_code_is_taken_or_malformed(ctx):
    floors.add(ctx, "4F", "四层", "4th floor")
    assert [(f.code, f.sort_order) for f in floors.list_floors(ctx)] == [("1F", 0), ("4F", 1)]
    floors.edit(ctx, "1F", new_code="3F", name_zh="三层", name_en="3rd floor")
    assert [(f.code, f.name_zh) for f in floors.list_floors(ctx)] == [("3F", "三层"), ("4F", "四层")]
    for code, message in (("4F", "exists already"), ("4 F", "not a floor code"), ("all", "every floor")):
        with pytest.raises(ServiceError, match=message):
            floors.add(ctx, code, "x", "x")
    with pytest.raises(ServiceError, match="Chinese name is required"):
        floors.add(ctx, "5F", " ", "5th floor")


def test_a_screen_is_paired_to_the_only_floor_and_must_name_one_when_there_are_several(ctx):
    screens.pair_now(ctx, "wall-1")
    floors.add(ctx, "4F", "四层", "4th floor")
    with pytest.raises(ServiceError, match="give --floor"):
        screens.pair(ctx, "wall-4", "setup", require_admin=False)
    screens.pair_now(ctx, "wall-4", floor="4F")
    screens.pair_now(ctx, "security", floor="all")
    screens.pair_now(ctx, "wall-1")  # paired again: keeps its floor
    assert {s["name"]: s["floor"] for s in screens.list_screens(ctx)} == {"wall-1": "1F", "wall-4": "4F",
                                                                           "security": "all"}
    with pytest.raises(ServiceError, match="unknown floor 9F"):
        screens.pair(ctx, "wall-9", "setup", require_admin=False, floor="9F")


# --- each floor its own ----------------------------------------------------------------------------------------

@pytest.fixture
def two(ctx, clock):
    """The fixture floor (1F) and 4F above it, day shift's roll call open; screens wall-1, wall-4, security."""
    build_floor(ctx)
    ids = add_upper_floor(ctx)
    screens.pair_now(ctx, "wall-1", floor="1F")
    screens.pair_now(ctx, "wall-4", floor="4F")
    screens.pair_now(ctx, "security", floor="all")
    clock.set(local(9, 10))
    ctx.ids = ids  # type: ignore[attr-defined]
    return ctx


def test_each_floors_snapshot_holds_only_its_seats_zones_doors_and_roster(two):
    f1, f4 = two.ids["1F"], two.ids["4F"]
    upper = floor.floor_snapshot(two, (f4,))
    assert {s["seat"] for s in upper["seats"]} == {"B-01", "B-02", "B-03", "B-04"}
    assert [z["zone"] for z in upper["zones"]] == ["B"] and upper["counts"]["seats"] == 4
    assert {s["seat"] for s in floor.floor_snapshot(two, (f1,))["seats"]} == {f"A-0{i}" for i in range(1, 9)}
    assert len(floor.floor_snapshot(two)["seats"]) == 12  # every floor
    assert [d["door_id"] for d in doors.panel(two, (f4,))["doors"]] == ["north"]
    assert [p["point"] for p in sensors.panel(two, (f1,))["points"]] == ["door:main"]
    assert {r["employee_no"] for r in rollcall.board(two, "wall-4")["rows"]} == {"20003", "20004", "20009"}
    assert {r["employee_no"] for r in rollcall.board(two, "wall-1")["rows"]} == {"20001", "20002", "20005", "20006"}
    assert len(rollcall.board(two, "security")["rows"]) == 7  # a screen of every floor: every floor's roster


def test_a_tap_counts_on_the_persons_own_floor_and_each_floor_closes_its_own_roll_call(two):
    f1, f4 = two.ids["1F"], two.ids["4F"]
    two.published.clear()
    assert rollcall.record_tap(two, uid_of("20003"), reader_id="wall-4")["outcome"] == "present"
    assert two.published[-1][0] == "tap_recorded" and two.published[-1][1]["floor_id"] == f4
    # Tapped at the 1F kiosk, an operator of 4F is still present on 4F; the card shows on 1F too.
    assert rollcall.record_tap(two, uid_of("20004"), reader_id="wall-1")["outcome"] == "present"
    assert two.published[-1][1]["floor_id"] == [f1, f4]
    assert rollcall.board(two, "wall-4")["counts"]["present"] == 2
    assert rollcall.board(two, "wall-1")["counts"]["present"] == 0
    # 4F's leader closes 4F's roll call at 4F's kiosk; 1F's stays open.
    pins.set_pin(two, "20009", LEADER_PIN)
    rollcall.record_tap(two, NORTH_UID, reader_id="wall-4")
    enter_pin(two, "wall-4")
    closed = rollcall.close_leader(two, "wall-4")
    assert (closed["floor"], closed["floor_id"], closed["summary"]["present"]) == ("4F", f4, 3)
    assert rollcall.board(two, "wall-4")["closed"] is not None
    assert rollcall.board(two, "wall-1")["closed"] is None
    assert rollcall.record_tap(two, uid_of("20002"), reader_id="wall-1")["outcome"] == "present"
    with two.engine.connect() as conn:
        calls = conn.execute(select(RollCall.__table__.c.floor_id, RollCall.__table__.c.closed_by)
                             .order_by(RollCall.__table__.c.floor_id)).all()
    assert calls == [(f1, None), (f4, "20009")]


def test_a_leader_at_a_floors_kiosk_marks_only_that_floors_roster(two):
    rollcall.record_tap(two, uid_of("20001"), reader_id="wall-1")
    enter_pin(two, "wall-1")
    with pytest.raises(ServiceError, match="on this floor"):
        rollcall.mark_by_hand(two, "wall-1", "20003", "present", "忘带工牌")
    marked = rollcall.mark_by_hand(two, "wall-1", "20002", "present", "忘带工牌")
    assert marked["floor_id"] == two.ids["1F"]


def test_the_timer_closes_every_floors_roll_call_on_its_own(two, clock):
    clock.set(local(9, 45))  # the window closed at 09:40
    closed = rollcall.tick(two)
    assert sorted(c["floor"] for c in closed) == ["1F", "4F"]
    with two.engine.connect() as conn:
        absent = conn.execute(select(AttendanceRecord.__table__.c.status)
                              .where(AttendanceRecord.__table__.c.status == "absent")).all()
    assert len(absent) == 7


def test_a_doors_alarm_and_changes_carry_its_floor(two, clock):
    two.config["GATEWAY_SECRETS"] = "gw=secret"
    for n, state in enumerate(("closed", "open")):  # seen closed, then opened with no badge: forced (§6.6)
        clock.set(clock.now + timedelta(seconds=1))
        body = json.dumps({"events": [{"id": f"gw:{n}", "type": "point_changed", "point": "door:north",
                                       "state": state, "at": clock.now.isoformat().replace("+00:00", "Z")}]}).encode()
        sensors.ingest(two, "gw", body, sensors.sign(b"secret", body))
    names = {n: p for n, p in two.published}
    f4 = two.ids["4F"]
    assert names["alert_raised"]["floor_id"] == f4 and names["alert_raised"]["kind"] == "door_forced_open"
    assert names["door_changed"]["floor_id"] == f4 and names["points_changed"]["floor_id"] == f4
    assert [a["door_id"] for a in doors.panel(two, (f4,))["alerts"]] == ["north"]
    assert doors.panel(two, (two.ids["1F"],))["alerts"] == []


def test_the_entry_log_review_filters_by_floor(two, clock):
    from kiosk.services import review

    two.config["GATEWAY_SECRETS"] = "gw=secret"
    rollcall.record_tap(two, uid_of("20003"), reader_id="wall-4")
    rollcall.record_tap(two, uid_of("20002"), reader_id="wall-1")
    for n, point in enumerate(("door:north", "door:main")):
        clock.set(clock.now + timedelta(seconds=1))
        body = json.dumps({"events": [{"id": f"gw:{n}", "type": "point_changed", "point": point, "state": "closed",
                                       "at": clock.now.isoformat().replace("+00:00", "Z")}]}).encode()
        sensors.ingest(two, "gw", body, sensors.sign(b"secret", body))
    upper = review.search(two, review.parse_filter({"floor": "4F"}, two.tz))
    shown = {(r["kind"], r["actor"], r["subject"]) for r in upper.rows if r["kind"] in ("rollcall_tap", "point_changed")}
    assert shown == {("rollcall_tap", "reader:wall-4", "…0003"),  # the badge UID masked, as the screens show it
                     ("point_changed", "gateway:gw", "door:north")}
    assert all(r["subject"] != "door:main" and r["actor"] != "reader:wall-1" for r in upper.rows)
    unknown = review.search(two, review.parse_filter({"floor": "9F"}, two.tz))
    assert unknown.rows == [] and unknown.scope.notes == ["No floor “9F”."]
