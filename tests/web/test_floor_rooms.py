"""Several floors over Socket.IO: each kiosk screen hears its own floor's events and sees its own floor's snapshot;
a screen of every floor and a supervisor's or security's desk login hear and see them all."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from floorfixtures import add_upper_floor, build_floor, uid_of
from kiosk.services import rollcall, screens, sensors, users
from kiosk.store.models import Staff
from kiosk.web import create_app, socketio

TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct horse battery"


@pytest.fixture
def app(ctx, clock, instance):
    """1F and 4F, the day shift's roll call open, the gateway `gw` allowed to post."""
    build_floor(ctx)
    ctx.ids = add_upper_floor(ctx)  # type: ignore[attr-defined]
    ctx.config["GATEWAY_SECRETS"] = "gw=secret"
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__), [{"employee_no": "30001", "name": "保卫甲", "role": "security",
                                                "active": True}])
    clock.set(datetime(2026, 11, 30, 9, 10, tzinfo=TZ).astimezone(timezone.utc))
    return create_app({"NFC_DEVICE": "none", "COOKIE_SECURE": False, "GATEWAY_SECRETS": "gw=secret"},
                      instance=str(instance), ctx=ctx)


def screen(app, name: str, floor: str, kiosk: str | None = None):
    """A Socket.IO client as the kiosk screen ``name``, paired to ``floor`` (a code, or "all")."""
    token = screens.pair_now(app.extensions["kiosk"], name, floor=floor)
    client = socketio.test_client(app, namespace="/kiosk", query_string=f"kiosk={kiosk or name}",
                                  headers={"Cookie": f"{screens.COOKIE}={token}"})
    assert client.is_connected("/kiosk")
    return client


def desk(app, ctx, username: str, employee_no: str, query: str = ""):
    users.add_user(ctx, username, employee_no, PASSWORD)
    http = app.test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text).group(1)
    http.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    return socketio.test_client(app, namespace="/kiosk", flask_test_client=http, query_string=query)


def received(client, name):
    return [m["args"][0] for m in client.get_received("/kiosk") if m["name"] == name]


def snapshot(client):
    (snap,) = received(client, "snapshot")
    return snap


def open_door(ctx, clock, point: str) -> None:
    """The door's contact is seen closed, then open with no badge before it: forced open (§6.6)."""
    for n, state in enumerate(("closed", "open")):
        clock.set(clock.now + timedelta(seconds=1))
        body = json.dumps({"events": [{"id": f"gw:{point}:{n}", "type": "point_changed", "point": point,
                                       "state": state, "at": clock.now.isoformat().replace("+00:00", "Z")}]}).encode()
        sensors.ingest(ctx, "gw", body, sensors.sign(b"secret", body))


def test_a_door_alarm_on_4f_reaches_4f_and_every_floor_screens_but_not_1f(app, ctx, clock):
    first, upper, everyone = screen(app, "wall-1", "1F"), screen(app, "wall-4", "4F"), screen(app, "security", "all")
    for c in (first, upper, everyone):
        c.get_received("/kiosk")
    open_door(ctx, clock, "door:north")
    for c in (upper, everyone):
        messages = {m["name"]: m["args"][0] for m in c.get_received("/kiosk")}
        assert messages["alert_raised"]["kind"] == "door_forced_open"
        assert messages["alert_raised"]["door_id"] == "north"
        assert messages["door_changed"]["door_id"] == "north" and messages["door_changed"]["look"] == "forced"
        assert [p["point"] for p in messages["points_changed"]["changes"]] == ["door:north"]
    # 1F heard nothing of 4F's door: only that the gateway (which serves every floor) is online.
    assert {m["name"] for m in first.get_received("/kiosk")} == {"gateway_health_changed"}
    # And the other way round: 1F's door reaches 1F and every floor, not 4F.
    open_door(ctx, clock, "door:main")
    assert [a["door_id"] for a in received(first, "alert_raised")] == ["main"]
    assert [a["door_id"] for a in received(everyone, "alert_raised")] == ["main"]
    assert received(upper, "alert_raised") == []


def test_each_screens_snapshot_holds_only_its_floor(app, ctx, clock):
    open_door(ctx, clock, "door:north")
    first, upper = snapshot(screen(app, "wall-1", "1F")), snapshot(screen(app, "wall-4", "4F"))
    assert [d["door_id"] for d in first["doors"]] == ["main"] and first["alerts"] == []
    assert [d["door_id"] for d in upper["doors"]] == ["north"] and [a["door_id"] for a in upper["alerts"]] == ["north"]
    assert {r["employee_no"] for r in upper["rows"]} == {"20003", "20004", "20009"}
    assert {s["seat"] for s in upper["floor"]["seats"]} == {"B-01", "B-02", "B-03", "B-04"}
    assert [p["point"] for p in upper["points"]] == ["door:north"]
    assert upper["floor_scope"] == {"floor": "4F", "floor_id": ctx.ids["4F"], "all_floors": False}
    assert [f["code"] for f in upper["floors"]] == ["1F", "4F"]


def test_a_screen_of_every_floor_sees_them_all_and_may_look_at_one(app, ctx):
    everyone = snapshot(screen(app, "security", "all"))
    assert {d["door_id"] for d in everyone["doors"]} == {"main", "north"}
    assert len(everyone["rows"]) == 7 and len(everyone["floor"]["seats"]) == 12
    assert everyone["floor_scope"] == {"floor": None, "floor_id": None, "all_floors": True}
    # Its floor map asks for one floor (?floor=4F): that floor's map, and that floor's pushes only.
    token = screens.pair_now(ctx, "security", floor="all")
    looking = socketio.test_client(app, namespace="/kiosk", query_string="kiosk=security&floor=4F",
                                   headers={"Cookie": f"{screens.COOKIE}={token}"})
    snap = snapshot(looking)
    assert {s["seat"] for s in snap["floor"]["seats"]} == {"B-01", "B-02", "B-03", "B-04"}
    assert snap["floor_scope"] == {"floor": "4F", "floor_id": ctx.ids["4F"], "all_floors": True}
    rollcall.record_tap(ctx, uid_of("20002"), reader_id="wall-1")  # a 1F tap
    assert received(looking, "tap_recorded") == []


def test_a_floors_screen_cannot_look_at_another_floor(app, ctx):
    token = screens.pair_now(ctx, "wall-1", floor="1F")
    client = socketio.test_client(app, namespace="/kiosk", query_string="kiosk=wall-1&floor=4F",
                                  headers={"Cookie": f"{screens.COOKIE}={token}"})
    snap = snapshot(client)
    assert snap["floor_scope"]["floor"] == "1F" and [d["door_id"] for d in snap["doors"]] == ["main"]


def test_security_at_the_desk_sees_every_floor_and_a_leaders_desk_login_is_refused(app, ctx):
    security = desk(app, ctx, "sec", "30001")
    assert security.is_connected("/kiosk")
    assert snapshot(security)["floor_scope"]["all_floors"] is True
    leader = desk(app, ctx, "lead", "20001")
    assert not leader.is_connected("/kiosk")  # which floor would it be? none is its own


def test_a_tap_at_4fs_kiosk_reaches_4f_and_not_1f(app, ctx):
    first, upper = screen(app, "wall-1", "1F"), screen(app, "wall-4", "4F")
    for c in (first, upper):
        c.get_received("/kiosk")
    rollcall.record_tap(ctx, uid_of("20003"), reader_id="wall-4")
    assert [p["name"] for p in received(upper, "tap_recorded")] == ["张伟"]
    assert received(first, "tap_recorded") == []


def test_a_snapshot_asked_for_again_is_of_the_screens_floor_and_none_once_it_is_revoked(app, ctx):
    upper = screen(app, "wall-4", "4F")
    snapshot(upper)
    upper.emit("request_snapshot", None, namespace="/kiosk")
    assert [d["door_id"] for d in snapshot(upper)["doors"]] == ["north"]
    screens.revoke(ctx, "wall-4")
    upper.emit("request_snapshot", None, namespace="/kiosk")
    assert not upper.is_connected("/kiosk")  # hung up on
    assert [m["name"] for m in upper.queue if m["name"] == "snapshot"] == []  # with no board
