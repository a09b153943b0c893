"""The gateway endpoint: signed batches stored once, live state updated, refusals named, silence noticed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kiosk.services import sensors
from kiosk.store.models import Event, Point, SensorEvent
from floorfixtures import refusing_inserts, screen_client
from kiosk.web import create_app

SECRET = "s3cret-floor-3"
READER_SECRET = "reader-secret"


@pytest.fixture
def app(ctx, instance):
    ctx.config["GATEWAY_SECRETS"] = f"floor-3={SECRET},floor-4=other,kiosk-floor3={READER_SECRET}"
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "话务区正门"},
                                {"id": "exit:main", "kind": "exit_button", "label": "出门按钮"},
                                {"id": "seat:A-01", "kind": "seat", "label": "A-01"}])
    return create_app({"NFC_DEVICE": "none"}, instance=str(instance), ctx=ctx)


def event(eid, point="door:main", state="open", at="2026-11-30T01:00:00Z", **extra):
    return {"id": eid, "type": "point_changed", "point": point, "kind": "door", "state": state,
            "previous": "closed", "reconciled": False, "source": "door-node-1", "channel": 1, "at": at, **extra}


def post(app, events, gateway="floor-3", secret=SECRET, signature=None):
    body = json.dumps({"gateway": gateway, "sent_at": "2026-11-30T01:00:01Z", "events": events,
                       "health": {"nodes": {"door-node-1": {"online": True}}}}).encode()
    sig = signature if signature is not None else sensors.sign(secret.encode(), body)
    return app.test_client().post(f"/api/v1/gateways/{gateway}/events", data=body,
                                  headers={"Content-Type": "application/json", "X-Signature": sig})


def count(ctx, table):
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def point_state(ctx, pid):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Point.__table__.c.state).where(Point.__table__.c.id == pid)).scalar_one()


def test_a_signed_door_opening_is_stored_and_the_door_shows_open_on_every_screen(app, ctx):
    screen = screen_client(app)
    screen.get_received("/kiosk")
    resp = post(app, [event("floor-3:1")])
    assert resp.status_code == 200 and resp.get_json() == {"accepted": ["floor-3:1"], "rejected": []}
    assert point_state(ctx, "door:main") == "open"
    pushed = [m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == "points_changed"]
    assert pushed[0]["changes"][0]["point"] == "door:main" and pushed[0]["changes"][0]["state"] == "open"


def test_the_same_event_delivered_twice_is_stored_once_and_acknowledged_both_times(app, ctx):
    post(app, [event("floor-3:1")])
    resp = post(app, [event("floor-3:1"), event("floor-3:2", state="closed", at="2026-11-30T01:00:05Z")])
    assert resp.get_json()["accepted"] == ["floor-3:1", "floor-3:2"]
    assert count(ctx, SensorEvent.__table__) == 2
    assert point_state(ctx, "door:main") == "closed"


@pytest.mark.sqlite_only
def test_a_batch_the_database_cannot_take_is_answered_503_keeps_nothing_and_its_retry_is_stored_once(
        app, ctx, instance):
    import sqlite3

    from sqlalchemy import event as sa_event

    ctx.engine.dispose()

    @sa_event.listens_for(ctx.engine, "connect")
    def _short(dbapi_conn, _rec):
        dbapi_conn.execute("PRAGMA busy_timeout=50")  # do not wait the production 5 s

    blocker = sqlite3.connect(instance / "kiosk.db", timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        refused = post(app, [event("floor-3:1")])
    finally:
        blocker.rollback()
        blocker.close()
    assert refused.status_code == 503 and refused.get_json()["error"] == "database_unavailable"
    assert "nothing was recorded" in refused.get_json()["message"]  # the gateway keeps it and sends again
    assert count(ctx, SensorEvent.__table__) == 0 and point_state(ctx, "door:main") != "open"

    retried = post(app, [event("floor-3:1")])
    assert retried.status_code == 200 and retried.get_json()["accepted"] == ["floor-3:1"]
    assert count(ctx, SensorEvent.__table__) == 1 and point_state(ctx, "door:main") == "open"


@pytest.mark.sqlite_only
def test_a_batch_refused_again_after_its_race_retry_is_answered_503_instead_of_looping(app, ctx, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="kiosk.services.sensors")
    with refusing_inserts(ctx.engine, "sensor_events"):
        refused = post(app, [event("floor-3:1")])
    assert refused.status_code == 503 and refused.get_json()["error"] == "batch_not_stored"
    assert "sends it again" in refused.get_json()["message"]
    assert sum("concurrent delivery" in r.message for r in caplog.records) == 1  # one retry, then no more
    assert count(ctx, SensorEvent.__table__) == 0 and point_state(ctx, "door:main") != "open"
    assert post(app, [event("floor-3:1")]).get_json()["accepted"] == ["floor-3:1"]
    assert point_state(ctx, "door:main") == "open"


def test_an_unsigned_or_wrongly_signed_batch_is_refused_with_401_and_logged(app, ctx):
    assert post(app, [event("x:1")], signature="").status_code == 401
    resp = post(app, [event("x:1")], secret="guess")
    assert resp.status_code == 401 and "shared secret" in resp.get_json()["message"]
    assert count(ctx, SensorEvent.__table__) == 0
    with ctx.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(Event.__table__.c.kind))]
    assert kinds.count("gateway_refused") == 2


def test_an_unknown_gateway_is_told_how_to_configure_it(app):
    resp = post(app, [event("x:1")], gateway="floor-9", secret="whatever")
    assert resp.status_code == 401 and "KIOSK_GATEWAY_SECRETS" in resp.get_json()["message"]


def test_an_unknown_point_is_refused_by_name_and_the_rest_of_the_batch_is_still_handled(app, ctx):
    resp = post(app, [event("floor-3:1", point="door:back"), event("floor-3:2")])
    body = resp.get_json()
    assert resp.status_code == 422
    assert body["accepted"] == ["floor-3:2"]
    assert body["rejected"] == [{"id": "floor-3:1", "reason": "unknown point 'door:back': define it on the kiosk first"}]
    assert point_state(ctx, "door:main") == "open"


def test_a_state_that_does_not_fit_the_point_kind_is_refused(app, ctx):
    resp = post(app, [event("floor-3:1", point="seat:A-01", state="open")])
    assert "not valid for a seat point" in resp.get_json()["rejected"][0]["reason"]
    assert point_state(ctx, "seat:A-01") == "unknown"


def test_an_older_event_is_stored_but_does_not_rewind_the_live_state(app, ctx):
    post(app, [event("floor-3:2", state="closed", at="2026-11-30T01:00:05Z")])
    post(app, [event("floor-3:1", state="open", at="2026-11-30T01:00:00Z")])
    assert count(ctx, SensorEvent.__table__) == 2
    assert point_state(ctx, "door:main") == "closed"


def test_a_point_reported_by_one_gateway_is_refused_from_another(app, ctx):
    post(app, [event("floor-3:1")])
    resp = post(app, [event("floor-4:1", state="closed")], gateway="floor-4", secret="other")
    assert "belongs to gateway floor-3" in resp.get_json()["rejected"][0]["reason"]


def test_malformed_json_is_refused_with_a_message(app):
    body = b"{not json"
    resp = app.test_client().post("/api/v1/gateways/floor-3/events", data=body,
                                  headers={"X-Signature": sensors.sign(SECRET.encode(), body)})
    assert resp.status_code == 400 and resp.get_json()["error"] == "malformed_json"


def test_a_silent_gateway_makes_its_points_unknown_never_closed(app, ctx, clock):
    post(app, [event("floor-3:1", state="closed")])
    clock.set(clock.now + timedelta(seconds=5))
    assert sensors.check_silent(ctx) == []
    clock.set(clock.now + timedelta(seconds=6))
    assert sensors.check_silent(ctx) == ["floor-3"]
    assert point_state(ctx, "door:main") == "unknown"
    assert sensors.check_silent(ctx) == []
    screen = screen_client(app)
    screen.get_received("/kiosk")
    post(app, [event("floor-3:2", state="closed", at="2026-11-30T01:00:20Z")])
    assert point_state(ctx, "door:main") == "closed"
    heard = [m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == "gateway_health_changed"]
    assert heard == [{"gateway": "floor-3", "silent": False, "last_seen_at": "2026-11-30T01:00:11Z"}]


def test_the_snapshot_carries_doors_and_gateway_health(app):
    post(app, [event("floor-3:1")])
    screen = screen_client(app)
    snap = next(m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == "snapshot")
    door = next(p for p in snap["points"] if p["point"] == "door:main")
    assert door["state"] == "open" and door["label"] == "话务区正门"
    assert snap["gateways"][0]["gateway"] == "floor-3" and not snap["gateways"][0]["silent"]
    assert all(p["kind"] != "seat" for p in snap["points"])


# ------------------------------------------------------------------ readers on other PCs (kiosk reader)

def reader_health(app, state, message="", reader="kiosk-floor3"):
    """An empty batch from a ``kiosk reader``, carrying its reader's health as RemoteReader sends it."""
    body = json.dumps({"gateway": reader, "sent_at": "2026-11-30T01:00:01Z", "events": [],
                       "health": {"readers": {reader: {"state": state, "message": message}}}}).encode()
    return app.test_client().post(f"/api/v1/gateways/{reader}/events", data=body,
                                  headers={"Content-Type": "application/json",
                                           "X-Signature": sensors.sign(READER_SECRET.encode(), body)})


def told(screen, name="reader_health_changed"):
    return [m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == name]


def test_a_reader_on_another_pc_shows_its_state_on_every_screen_once_per_change(app, ctx):
    screen = screen_client(app)
    screen.get_received("/kiosk")
    assert reader_health(app, "connected").status_code == 200
    assert told(screen) == [{"reader_id": "kiosk-floor3", "state": "connected", "message": "", "remote": True}]
    reader_health(app, "connected")  # the same word every few seconds: nothing new to show
    assert told(screen) == []
    reader_health(app, "disconnected", "no reader on usb")
    assert told(screen) == [{"reader_id": "kiosk-floor3", "state": "disconnected", "message": "no reader on usb",
                             "remote": True}]
    later = screen_client(app)  # a screen connecting now learns it from its snapshot
    snap = next(m["args"][0] for m in later.get_received("/kiosk") if m["name"] == "snapshot")
    assert snap["readers"]["kiosk-floor3"] == {"state": "disconnected", "message": "no reader on usb",
                                               "remote": True}


def test_a_silent_reader_pc_shows_as_disconnected_since_it_was_last_heard_then_back(app, ctx, clock):
    reader_health(app, "connected")
    screen = screen_client(app)
    screen.get_received("/kiosk")
    clock.set(clock.now + timedelta(seconds=11))
    assert sensors.check_silent(ctx) == ["kiosk-floor3"]
    assert told(screen) == [{"reader_id": "kiosk-floor3", "state": "disconnected", "message": "", "remote": True,
                             "silent": True, "since": "2026-11-30T01:00:00Z"}]
    with ctx.engine.connect() as conn:
        assert sensors.remote_readers(conn)["kiosk-floor3"]["silent"] is True
    reader_health(app, "connected")
    assert told(screen) == [{"reader_id": "kiosk-floor3", "state": "connected", "message": "", "remote": True}]


def test_what_a_reader_pc_says_of_its_reader_is_checked_not_trusted(app, ctx):
    reader_health(app, "on fire", "x" * 500)
    with ctx.engine.connect() as conn:
        health = sensors.remote_readers(conn)["kiosk-floor3"]
    assert health == {"state": "unknown", "message": "x" * 200, "remote": True}
    assert sensors.readers_of('{"readers": [1, 2]}', silent=False, last_seen_at=None) == {}
    assert sensors.readers_of('{"readers": {"": {}, "k": "junk"}}', silent=False, last_seen_at=None) == {
        "k": {"state": "unknown", "message": "", "remote": True}}
    assert sensors.readers_of("not json", silent=False, last_seen_at=None) == {}


def test_a_sensor_gateway_reports_no_readers(app, ctx):
    post(app, [event("floor-3:1")])
    with ctx.engine.connect() as conn:
        assert sensors.remote_readers(conn) == {}
