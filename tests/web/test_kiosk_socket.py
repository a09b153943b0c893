"""The kiosk namespace over Flask-SocketIO's test client: snapshot on connect, live pushes, leader actions."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from floorfixtures import LEADER_PIN, build_floor, screen_client, uid_of
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
    assert client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)["ok"]
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


def test_a_leader_enters_the_pin_over_the_socket_and_the_answer_carries_the_session_state(app):
    client = screen_client(app)
    rollcall.record_tap(app.extensions["kiosk"], uid_of("20001"))
    (started,) = received(client, "leader_session_started")
    assert started["pin_verified"] is False
    refused = client.emit("close_rollcall", {}, namespace="/kiosk", callback=True)
    assert refused["error"] == "pin_required" and refused["message"].startswith("请输入 PIN / Enter your PIN")
    assert refused["leader"]["employee_no"] == "20001" and refused["leader"]["pin_verified"] is False
    wrong = client.emit("verify_pin", {"pin": "1357"}, namespace="/kiosk", callback=True)
    assert wrong["ok"] is False and wrong["error"] == "pin_wrong" and wrong["remaining"] == 4
    assert wrong["leader"]["pin_verified"] is False
    right = client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)
    assert right["ok"] is True and right["pin_verified"] is True and right["leader"]["pin_verified"] is True
    (pushed,) = received(client, "leader_pin_verified")
    assert pushed["kiosk"] == "kiosk" and pushed["pin_verified"] is True and "pin" not in pushed
    client.emit("request_snapshot", None, namespace="/kiosk")
    (asked,) = received(client, "snapshot")
    assert asked["leader"]["pin_verified"] is True
    client.disconnect(namespace="/kiosk")
    client.connect(namespace="/kiosk", headers=client.screen_headers)
    (snap,) = received(client, "snapshot")
    assert snap["leader"]["pin_verified"] is True  # a reconnecting screen knows the PIN was entered
    assert client.emit("close_rollcall", {}, namespace="/kiosk", callback=True)["ok"]


def test_too_many_wrong_pins_over_the_socket_end_the_session_on_every_screen(app):
    client, other = screen_client(app), screen_client(app)
    rollcall.record_tap(app.extensions["kiosk"], uid_of("20001"))
    for _ in range(4):
        client.emit("verify_pin", {"pin": "1357"}, namespace="/kiosk", callback=True)
    locked = client.emit("verify_pin", {"pin": "1357"}, namespace="/kiosk", callback=True)
    assert locked["ok"] is False and locked["error"] == "pin_locked" and locked["leader"] is None
    pushed = other.get_received("/kiosk")
    assert [m["args"][0] for m in pushed if m["name"] == "leader_session_ended"] == [
        {"kiosk": "kiosk", "reason": "pin_locked"}]
    (alert,) = [m["args"][0] for m in pushed if m["name"] == "alert_raised"]
    assert alert["kind"] == "leader_pin_locked_out"
    again = client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)
    assert again["error"] == "leader_required"
