"""The kiosk namespace over Flask-SocketIO's test client: snapshot on connect, live pushes, leader actions."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from floorfixtures import build_floor, screen_client, uid_of
from kiosk.services import rollcall
from kiosk.store.db import SchemaOutOfDate
from kiosk.web import create_app, socketio

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def app(ctx, clock, instance):
    build_floor(ctx)
    clock.set(datetime(2026, 11, 30, 9, 10, tzinfo=TZ).astimezone(timezone.utc))
    return create_app({"NFC_DEVICE": "none"}, instance=str(instance), ctx=ctx)


def received(client, name):
    return [m["args"][0] for m in client.get_received("/kiosk") if m["name"] == name]


def test_a_screen_gets_the_whole_board_when_it_connects(app):
    client = screen_client(app)
    (snap,) = received(client, "snapshot")
    assert snap["shift"]["code"] == "D" and snap["window"]["open"]
    assert snap["counts"]["expected"] == 6 and len(snap["rows"]) == 6
    assert snap["notices"][0]["title"] == "供暖口径"


def test_a_tap_is_pushed_to_every_connected_screen(app):
    screens = [screen_client(app) for _ in range(2)]
    for s in screens:
        s.get_received("/kiosk")
    rollcall.record_tap(app.extensions["kiosk"], uid_of("20002"))
    for s in screens:
        (pushed,) = received(s, "tap_recorded")
        assert pushed["name"] == "李娜" and pushed["outcome"] == "present"


def test_a_reconnecting_screen_sees_what_happened_while_it_was_away(app):
    client = screen_client(app)
    client.get_received("/kiosk")
    client.disconnect(namespace="/kiosk")
    rollcall.record_tap(app.extensions["kiosk"], uid_of("20002"))
    client.connect(namespace="/kiosk", headers=client.screen_headers)
    (snap,) = received(client, "snapshot")
    assert next(r for r in snap["rows"] if r["employee_no"] == "20002")["status"] == "present"


def test_a_leader_action_without_a_leader_badge_is_refused_with_a_message(app):
    client = screen_client(app)
    answer = client.emit("close_rollcall", {}, namespace="/kiosk", callback=True)
    assert answer["ok"] is False and answer["error"] == "leader_required"
    assert "leader badge" in answer["message"]


def test_the_leader_console_marks_and_closes_over_the_socket(app):
    client = screen_client(app)
    rollcall.record_tap(app.extensions["kiosk"], uid_of("20001"))
    answer = client.emit("mark_attendance", {"employee_no": "20003", "status": "present", "note": "忘带工牌"},
                         namespace="/kiosk", callback=True)
    assert answer["ok"] and answer["status"] == "present"
    closed = client.emit("close_rollcall", {}, namespace="/kiosk", callback=True)
    assert closed["ok"] and closed["summary"]["absent"] == 4
    assert received(client, "rollcall_closed")[0]["by"] == "20001"


def test_the_http_board_matches_the_socket_snapshot(app):
    body = app.test_client().get("/api/v1/rollcall").get_json()
    assert body["counts"]["expected"] == 6


def test_the_simulated_tap_endpoint_is_off_unless_the_reader_is_simulated(app):
    resp = app.test_client().post("/api/v1/sim/tap", json={"uid": uid_of("20002")})
    assert resp.status_code == 400 and resp.get_json()["error"] == "not_simulated"


def test_the_app_refuses_to_start_on_a_database_without_the_schema(tmp_path):
    with pytest.raises(SchemaOutOfDate, match="kiosk db upgrade"):
        create_app({"NFC_DEVICE": "none"}, instance=str(tmp_path / "fresh"))
