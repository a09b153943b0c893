"""Badge checks at door readers through the service layer: decisions logged with reasons, grants explain openings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from floorfixtures import build_floor, uid_of
from kiosk.services import alerts, door_access, doors, rollcall, sensors, taps
from kiosk.services.errors import ServiceError, StorageUnavailable
from kiosk.store.models import Event

TZ = ZoneInfo("Asia/Shanghai")
SECRET = b"access-test"


def local(hh, mm, ss=0):
    return datetime(2026, 11, 30, hh, mm, ss, tzinfo=TZ).astimezone(timezone.utc)


@pytest.fixture
def floor(ctx, clock):
    build_floor(ctx)
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + SECRET.decode()
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                              "readers": ["door-main", "kiosk"]}])
    clock.set(local(9, 10))
    return ctx


def contact(ctx, clock, state, n=[0]):
    n[0] += 1
    body = json.dumps({"events": [{"id": f"g:{n[0]}:{state}:{clock.now.timestamp()}", "type": "point_changed",
                                   "point": "door:main", "state": state, "at": clock.now.isoformat()}]}).encode()
    sensors.ingest(ctx, "floor-3", body, sensors.sign(SECRET, body))


def logged(ctx, kind):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Event.__table__).where(Event.__table__.c.kind == kind)
                            .order_by(Event.__table__.c.id)).all()


def test_an_operator_who_answered_roll_call_is_let_in_and_the_opening_is_explained(floor, clock):
    contact(floor, clock, "closed")
    rollcall.record_tap(floor, uid_of("20002"))
    decision = door_access.door_tap(floor, uid_of("20002"), "door-main")
    assert decision["outcome"] == "granted" and decision["name"] == "李娜"
    clock.set(clock.now + timedelta(seconds=3))
    contact(floor, clock, "open")
    assert alerts.history(floor) == []
    assert logged(floor, "door_tap")[-1].outcome == "granted"


def test_an_operator_of_the_incoming_shift_who_has_not_answered_roll_call_is_refused(floor):
    decision = door_access.door_tap(floor, uid_of("20003"), "door-main")
    assert decision["outcome"] == "not_roll_called" and decision["rule"] == "§4.4"
    assert logged(floor, "door_tap")[-1].reason == decision["reason"]


def test_a_tap_on_the_kiosk_reader_at_the_door_answers_roll_call_and_opens_the_door(floor):
    result = taps.handle(floor, uid_of("20004"), "kiosk")
    assert result["rollcall"]["outcome"] == "present" and result["door"]["outcome"] == "granted"


def test_a_lost_badge_and_a_departed_operator_are_refused_at_the_door(floor):
    assert door_access.door_tap(floor, uid_of("20005"), "door-main")["outcome"] == "badge_lost"
    assert door_access.door_tap(floor, uid_of("20006"), "door-main")["outcome"] == "staff_left"


def test_a_supervisor_passes_at_any_time(floor, clock):
    clock.set(local(3, 0))
    assert door_access.door_tap(floor, uid_of("20008"), "door-main")["outcome"] == "granted"


def test_a_tap_at_a_reader_no_door_knows_is_refused_and_logged(floor):
    with pytest.raises(ServiceError, match="not assigned to any door"):
        door_access.door_tap(floor, uid_of("20002"), "door-nowhere")
    assert logged(floor, "door_tap_refused")[-1].outcome == "unknown_reader"


def test_five_refusals_in_an_hour_lock_the_card_out_and_raise_one_alert(floor, clock):
    for i in range(5):
        clock.set(clock.now + timedelta(minutes=1))
        assert door_access.door_tap(floor, uid_of("20003"), "door-main")["outcome"] == "not_roll_called"
    assert [a["kind"] for a in alerts.history(floor)] == ["badge_locked_out"]
    rollcall.record_tap(floor, uid_of("20003"))
    # Answering roll call does not lift a lockout: a leader lets the person in.
    assert door_access.door_tap(floor, uid_of("20003"), "door-main")["outcome"] == "locked_out"
    # Other cards are not affected, and taps while locked raise no second alert.
    rollcall.record_tap(floor, uid_of("20002"))
    assert door_access.door_tap(floor, uid_of("20002"), "door-main")["outcome"] == "granted"
    assert len(alerts.history(floor)) == 1


def test_an_unknown_card_tapped_five_times_raises_a_lockout_alert(floor, clock):
    for i in range(5):
        assert door_access.door_tap(floor, "DEADBEEF", "door-main")["outcome"] == "unknown_badge"
    assert [a["kind"] for a in alerts.history(floor)] == ["badge_locked_out"]


@pytest.mark.sqlite_only
def test_a_door_tap_the_locked_database_cannot_record_is_refused_visibly_and_opens_nothing(floor, instance):
    import sqlite3

    import sqlalchemy

    rollcall.record_tap(floor, uid_of("20002"))
    floor.engine.dispose()

    @sqlalchemy.event.listens_for(floor.engine, "connect")
    def _short(dbapi_conn, _rec):
        dbapi_conn.execute("PRAGMA busy_timeout=50")  # do not wait the production 5 s

    blocker = sqlite3.connect(instance / "kiosk.db", timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable, match="door stays locked"):
            door_access.door_tap(floor, uid_of("20002"), "door-main")
    finally:
        blocker.rollback()
        blocker.close()
    name, payload = floor.published[-1]
    assert name == "tap_failed" and payload["error"] == "storage_unavailable" and payload["reader_id"] == "door-main"
    assert logged(floor, "door_tap") == []  # the decision and any grant commit together, or not at all
    assert door_access.door_tap(floor, uid_of("20002"), "door-main")["outcome"] == "granted"  # once it writes again
