"""The call platform's endpoint and the floor map over HTTP and Socket.IO: signature, validation, ordering."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from floorfixtures import LEADER_PIN, build_floor, screen_client, uid_of
from kiosk.services import floor, rollcall
from kiosk.store.models import AgentEvent, AgentLive, Event
from kiosk.web import create_app, socketio

TZ = ZoneInfo("Asia/Shanghai")
SECRET = "platform-a-secret"


@pytest.fixture
def app(ctx, clock, instance):
    build_floor(ctx)
    clock.set(datetime(2026, 11, 30, 9, 20, tzinfo=TZ).astimezone(timezone.utc))
    ctx.config["CTI_SECRETS"] = f"platform-a={SECRET},platform-b=other-secret"
    return create_app({"NFC_DEVICE": "none", "FLOOR_PUSH_INTERVAL_SECONDS": 0}, instance=str(instance), ctx=ctx)


def state(emp="20002", seat="A-02", st="signed_in", at="2026-11-30T09:20:00+08:00", **kw):
    return {"employee_no": emp, "seat": seat, "state": st, "at": at, **kw}


def post(app, doc, secret=SECRET, integration="platform-a", signature=None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(doc).encode()
    headers = {"Content-Type": "application/json"}
    if integration is not None:
        headers["X-Integration"] = integration
    sig = signature if signature is not None else floor.sign(secret.encode(), body)
    if sig:
        headers["X-Signature"] = sig
    return app.test_client().post("/api/v1/agent-states", data=body, headers=headers)


def count(ctx, table):
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def live(ctx, emp):
    with ctx.engine.connect() as conn:
        return conn.execute(select(AgentLive.__table__).where(AgentLive.__table__.c.employee_no == emp)).first()


# --- signature ---------------------------------------------------------------------------------------------

def test_a_signed_sign_in_is_stored_and_answered_after_the_commit(app, ctx):
    resp = post(app, state())
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True, "accepted": 1, "duplicates": 0, "out_of_order": 0, "refused": []}
    assert live(ctx, "20002").state == "signed_in"


def test_an_unsigned_request_is_refused_with_401_and_stores_nothing(app, ctx):
    resp = post(app, state(), signature="")
    assert resp.status_code == 401 and "X-Signature" in resp.get_json()["message"]
    assert count(ctx, AgentEvent.__table__) == 0


def test_a_request_signed_with_the_wrong_secret_is_refused_with_401_and_logged(app, ctx):
    resp = post(app, state(), secret="guess")
    assert resp.status_code == 401 and "shared secret" in resp.get_json()["message"]
    with ctx.engine.connect() as conn:
        assert conn.execute(select(Event.__table__.c.outcome).where(
            Event.__table__.c.kind == "agent_states_refused")).scalar_one() == "bad_signature"


def test_the_signature_of_another_integration_does_not_pass(app):
    assert post(app, state(), secret="other-secret", integration="platform-a").status_code == 401
    assert post(app, state(), secret="other-secret", integration="platform-b").status_code == 200


def test_an_unknown_integration_is_told_how_to_configure_it(app):
    resp = post(app, state(), integration="platform-z")
    assert resp.status_code == 401 and "KIOSK_CTI_SECRETS" in resp.get_json()["message"]


def test_with_several_integrations_the_header_naming_one_is_required(app):
    resp = post(app, state(), integration=None)
    assert resp.status_code == 401 and "X-Integration" in resp.get_json()["message"]


def test_with_one_integration_the_header_may_be_left_out(app, ctx):
    ctx.config["CTI_SECRETS"] = f"only={SECRET}"
    assert post(app, state(), integration=None).status_code == 200


# --- validation --------------------------------------------------------------------------------------------

def test_an_unknown_employee_or_seat_is_refused_with_422_naming_it(app, ctx):
    resp = post(app, [state(emp="99999"), state(seat="Z-42"), state(emp="20003", seat="A-03")])
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["accepted"] == 1  # the good one is stored
    (a, b) = body["refused"]
    assert (a["index"], a["error"], a["employee_no"]) == (0, "unknown_employee", "99999") and "'99999'" in a["message"]
    assert (b["index"], b["error"], b["seat"]) == (1, "unknown_seat", "Z-42") and "'Z-42'" in b["message"]
    assert live(ctx, "20002") is None and live(ctx, "20003").seat_id == "A-03"


def test_a_state_outside_the_list_is_refused_naming_the_states_allowed(app, ctx):
    resp = post(app, state(st="on_lunch"))
    assert resp.status_code == 422
    assert "signed_in, ready, busy, wrap_up, signed_out" in resp.get_json()["refused"][0]["message"]
    assert count(ctx, AgentEvent.__table__) == 0


def test_a_time_beyond_the_clock_skew_allowance_is_refused_and_one_within_it_accepted(app, ctx):
    resp = post(app, state(at="2026-11-30T09:22:01+08:00"))
    assert resp.status_code == 422 and resp.get_json()["refused"][0]["error"] == "future_time"
    assert "121 s ahead" in resp.get_json()["refused"][0]["message"]
    assert post(app, state(at="2026-11-30T09:21:59+08:00")).status_code == 200


def test_malformed_json_is_refused_with_400_counted_and_logged(app, ctx):
    resp = post(app, None, raw=b'{"employee_no": "20002", ')
    assert resp.status_code == 400 and resp.get_json()["error"] == "malformed_json"
    resp = post(app, "signed_in")
    assert resp.status_code == 400 and resp.get_json()["error"] == "malformed_body"
    snap = app.test_client().get("/api/v1/floor").get_json()
    assert snap["ingest"]["refused:malformed_json"] == 1 and snap["ingest"]["refused_requests"] == 2
    with ctx.engine.connect() as conn:
        outcomes = conn.execute(select(Event.__table__.c.outcome).where(
            Event.__table__.c.kind == "agent_states_refused")).scalars().all()
    assert sorted(outcomes) == ["malformed_body", "malformed_json"]


# --- ordering ----------------------------------------------------------------------------------------------

def test_an_older_state_is_stored_but_does_not_rewind_the_live_state(app, ctx):
    post(app, state(st="busy", at="2026-11-30T09:19:00+08:00"))
    resp = post(app, state(st="ready", at="2026-11-30T09:18:00+08:00"))
    assert resp.status_code == 200 and resp.get_json()["out_of_order"] == 1
    assert count(ctx, AgentEvent.__table__) == 2 and live(ctx, "20002").state == "busy"


def test_a_list_is_applied_in_its_order(app, ctx):
    resp = post(app, [state(st="signed_in", at="2026-11-30T09:10:00+08:00"),
                      state(st="ready", at="2026-11-30T09:11:00+08:00"),
                      state(st="wrap_up", at="2026-11-30T09:10:30+08:00")])
    assert resp.get_json()["out_of_order"] == 1 and live(ctx, "20002").state == "ready"


# --- the map -----------------------------------------------------------------------------------------------

def test_the_floor_map_is_served_as_json(app):
    post(app, state(seat="A-07"))
    snap = app.test_client().get("/api/v1/floor").get_json()
    seat = next(s for s in snap["seats"] if s["seat"] == "A-07")
    assert seat["agent"]["employee_no"] == "20002" and seat["status"] == "signed_in"
    assert snap["counts"]["signed_in"] == 1 and snap["flags"][0]["kind"] == "wrong_seat"


def test_screens_get_the_map_on_connect_and_each_change_as_it_happens(app):
    screen = screen_client(app)
    (snap,) = [m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == "snapshot"]
    assert len(snap["floor"]["seats"]) == 8 and snap["floor"]["counts"]["signed_in"] == 0
    post(app, state())
    (push,) = [m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == "floor_changed"]
    assert [s["seat"] for s in push["seats"]] == ["A-02"] and push["counts"]["signed_in"] == 1


def test_a_leader_acknowledges_a_flag_from_the_screen(app):
    post(app, state(seat="A-07"))
    screen = screen_client(app)
    snap = next(m["args"][0] for m in screen.get_received("/kiosk") if m["name"] == "snapshot")
    flag_id = snap["floor"]["flags"][0]["id"]
    refused = screen.emit("acknowledge_flag", {"id": flag_id}, namespace="/kiosk", callback=True)
    assert refused["ok"] is False and refused["error"] == "leader_required"
    rollcall.record_tap(app.extensions["kiosk"], uid_of("20001"))
    answer = screen.emit("acknowledge_flag", {"id": flag_id}, namespace="/kiosk", callback=True)  # the badge alone
    assert answer["ok"] is True and answer["flag"]["acknowledged_by"] == "20001"
    cause = {"id": flag_id, "cause": "other", "comment": "x"}
    answer = screen.emit("record_signout_cause", cause, namespace="/kiosk", callback=True)
    assert answer["ok"] is False and answer["error"] == "pin_required"  # a register entry needs the PIN too
    assert screen.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)["ok"]
    answer = screen.emit("record_signout_cause", cause, namespace="/kiosk", callback=True)
    assert answer["ok"] is False and answer["error"] == "not_a_signout"
