"""Visitors on the kiosk namespace (§2.2): the leader console lists approvals and arms the kiosk; screens see who is inside."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from floorfixtures import LEADER_PIN, build_floor, screen_client, uid_of
from kiosk.services import doors, taps, visitors
from kiosk.store.models import Staff
from kiosk.web import create_app, socketio

TZ = ZoneInfo("Asia/Shanghai")
CARD = "08A1B2C3"


def local(hh, mm):
    return datetime(2026, 11, 30, hh, mm, tzinfo=TZ).astimezone(timezone.utc)


def approval(ctx, name, start, end, **more):
    return visitors.create_approval(ctx, "30001", {
        "name": name, "organisation": "市数据局", "id_doc_tail": "0042", "purpose": "visit",
        "valid_from": start, "valid_until": end, "host_employee_no": "20001", **more})


@pytest.fixture
def app(ctx, clock, instance):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__).values(employee_no="30001", name="孙科长", role="management",
                                                     active=True))
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                              "readers": ["door-main"]}])
    clock.set(local(9, 10))
    return create_app({"NFC_DEVICE": "none"}, instance=str(instance), ctx=ctx)


@pytest.fixture
def today(app):
    """An approval for this morning, one for tomorrow and a cancelled one."""
    ctx = app.extensions["kiosk"]
    morning = approval(ctx, "谭明", local(10, 0), local(12, 0))
    approval(ctx, "明天来", local(10, 0) + timedelta(days=1), local(12, 0) + timedelta(days=1))
    cancelled = approval(ctx, "取消了", local(13, 0), local(14, 0))
    visitors.cancel_approval(ctx, "30001", cancelled["id"])
    return morning


def received(client, name):
    return [m["args"][0] for m in client.get_received("/kiosk") if m["name"] == name]


def test_listing_visitor_approvals_needs_a_leader_at_the_kiosk(app, today):
    client = screen_client(app)
    answer = client.emit("list_visitor_approvals", {}, namespace="/kiosk", callback=True)
    assert answer["ok"] is False and answer["error"] == "leader_required"


def test_the_leader_console_lists_only_todays_valid_approvals(app, today):
    client = screen_client(app)
    taps.handle(app.extensions["kiosk"], uid_of("20001"), "kiosk")
    assert client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)["ok"]
    answer = client.emit("list_visitor_approvals", {}, namespace="/kiosk", callback=True)
    assert answer["ok"] and [a["name"] for a in answer["approvals"]] == ["谭明"]
    assert answer["approvals"][0]["id_doc_tail"] == "0042"  # to check against the visitor's ID document
    assert answer["leader"]["employee_no"] == "20001"


def test_the_leader_arms_the_kiosk_and_every_screen_sees_the_card_bound(app, today):
    client = screen_client(app)
    ctx = app.extensions["kiosk"]
    taps.handle(ctx, uid_of("20001"), "kiosk")
    assert client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)["ok"]
    client.get_received("/kiosk")
    answer = client.emit("start_visitor_binding", {"approval_id": today["id"]}, namespace="/kiosk", callback=True)
    assert answer["ok"] and answer["name"] == "谭明" and answer["expires_at"] == "2026-11-30T01:10:30Z"
    assert received(client, "visitor_binding_armed")[0]["approval_id"] == today["id"]
    taps.handle(ctx, CARD, "kiosk")
    (bound,) = received(client, "visitor_card_bound")
    assert bound["name"] == "谭明" and bound["uid_tail"] == "…B2C3"


def test_arming_for_an_approval_that_does_not_exist_is_refused_with_a_message(app):
    client = screen_client(app)
    taps.handle(app.extensions["kiosk"], uid_of("20001"), "kiosk")
    assert client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)["ok"]
    answer = client.emit("start_visitor_binding", {"approval_id": 404}, namespace="/kiosk", callback=True)
    assert answer["ok"] is False and answer["error"] == "no_such_approval" and "404" in answer["message"]
    junk = client.emit("start_visitor_binding", {"approval_id": "abc"}, namespace="/kiosk", callback=True)
    assert junk["ok"] is False and junk["error"] == "bad_approval"


def test_a_reconnecting_screen_sees_the_armed_binding_and_the_visitors_inside(app, today, clock):
    ctx = app.extensions["kiosk"]
    client = screen_client(app)
    (snap,) = received(client, "snapshot")
    assert snap["visitors"] == [] and snap["visitor_binding"] is None
    taps.handle(ctx, uid_of("20001"), "kiosk")
    assert client.emit("verify_pin", {"pin": LEADER_PIN}, namespace="/kiosk", callback=True)["ok"]
    client.emit("start_visitor_binding", {"approval_id": today["id"]}, namespace="/kiosk", callback=True)
    client.disconnect(namespace="/kiosk")
    client.connect(namespace="/kiosk", headers=client.screen_headers)
    (snap,) = received(client, "snapshot")
    assert snap["visitor_binding"]["approval_id"] == today["id"]
    taps.handle(ctx, CARD, "kiosk")
    clock.set(local(10, 5))
    taps.handle(ctx, CARD, "door-main")
    (changed,) = received(client, "visitors_changed")
    assert [v["name"] for v in changed["visitors"]] == ["谭明"]
    client.disconnect(namespace="/kiosk")
    client.connect(namespace="/kiosk", headers=client.screen_headers)
    (snap,) = received(client, "snapshot")
    assert [v["name"] for v in snap["visitors"]] == ["谭明"] and snap["visitor_binding"] is None
