"""Visitors through the service layer (§2.2, §6.6): approvals, cards bound at the kiosk, door checks, alerts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from floorfixtures import another_process, build_floor, enter_pin, uid_of
from kiosk.cli import main as cli
from kiosk.services import alerts, demo, doors, leader_sessions, sensors, taps, visitors
from kiosk.services.errors import NotFound, NotPermitted, ServiceError
from kiosk.store.db import write_transaction
from kiosk.store.models import Event, Staff, VisitorApproval, VisitorCard

TZ = ZoneInfo("Asia/Shanghai")
SECRET = b"visitor-test"
CARD = "08A1B2C3"  # a visitor card from the reception drawer
OTHER_CARD = "08D4E5F6"
MANAGER = "30001"


def local(hh, mm, ss=0):
    return datetime(2026, 11, 30, hh, mm, ss, tzinfo=TZ).astimezone(timezone.utc)


@pytest.fixture
def floor(ctx, clock):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__), [
            {"employee_no": MANAGER, "name": "孙科长", "role": "management", "active": True},
            {"employee_no": "30002", "name": "系统管理员", "role": "admin", "active": True},
            {"employee_no": "30003", "name": "钱离职", "role": "management", "active": False}])
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + SECRET.decode()
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                              "readers": ["door-main"]}])
    clock.set(local(9, 10))
    return ctx


def fields(**changes):
    base = {"name": "谭明", "organisation": "市数据局", "id_doc_tail": "123X", "purpose": "visit",
            "valid_from": local(10, 0), "valid_until": local(12, 0), "host_employee_no": "20001",
            "escort_required": False}
    return {**base, **changes}


def approve(ctx, **changes):
    return visitors.create_approval(ctx, MANAGER, fields(**changes))


def bind(ctx, approval, card=CARD, leader="20001"):
    """A leader taps their badge at the kiosk, picks the approval, then the visitor's card is tapped."""
    taps.handle(ctx, uid_of(leader), "kiosk")
    enter_pin(ctx)
    visitors.start_binding(ctx, "kiosk", approval["id"])
    return taps.handle(ctx, card, "kiosk")


def contact(ctx, clock, state, n=[0]):
    n[0] += 1
    body = json.dumps({"events": [{"id": f"v:{n[0]}:{state}", "type": "point_changed", "point": "door:main",
                                   "state": state, "at": clock.now.isoformat()}]}).encode()
    sensors.ingest(ctx, "floor-3", body, sensors.sign(SECRET, body))


def logged(ctx, kind):
    events = Event.__table__
    with ctx.engine.connect() as conn:
        return conn.execute(select(events).where(events.c.kind == kind).order_by(events.c.id)).all()


def published(ctx, name):
    return [p for n, p in ctx.published if n == name]


# --- approvals -----------------------------------------------------------------------------------


def test_the_management_section_records_an_approval_and_it_is_logged(floor):
    a = approve(floor, escort_required=True)
    assert (a["name"], a["purpose"], a["host_name"], a["status"]) == ("谭明", "visit", "王班长", "upcoming")
    assert a["valid_from"] == "2026-11-30T02:00:00Z" and a["escort_required"] and a["id_doc_tail"] == "123X"
    (row,) = logged(floor, "visitor_approved")
    assert (row.actor, row.subject, row.rule) == (MANAGER, str(a["id"]), "§2.2")
    assert published(floor, "visitor_approved")[0]["id"] == a["id"]


def test_an_approval_with_problems_is_refused_listing_every_problem_and_the_refusal_is_logged(floor):
    with pytest.raises(ServiceError) as refused:
        approve(floor, name=" ", purpose="inspect", id_doc_tail="11010519491231002X",
                valid_from=local(12, 0), valid_until=local(10, 0), host_employee_no="99999")
    problems = refused.value.detail["problems"]
    assert refused.value.code == "invalid_approval" and len(problems) == 5
    assert any("name is empty" in p for p in problems) and any("'inspect'" in p for p in problems)
    assert any("last 4 characters" in p for p in problems) and any("end after it starts" in p for p in problems)
    assert any("host 99999" in p for p in problems)
    (row,) = logged(floor, "visitor_approval_refused")
    assert row.outcome == "invalid_approval" and row.actor == MANAGER
    # Data minimisation: the refused full ID number is stored nowhere, not even in the log.
    assert "11010519491231002X" not in row.reason + row.data
    assert visitors.approvals(floor, include_all=True) == []


def test_an_inactive_host_and_a_window_already_over_are_refused(floor):
    with pytest.raises(ServiceError) as refused:
        approve(floor, host_employee_no="20006", valid_from=local(7, 0), valid_until=local(8, 0))
    assert any("20006 is not an active" in p for p in refused.value.detail["problems"])
    assert any("already ended" in p for p in refused.value.detail["problems"])


def test_an_operator_may_not_approve_a_visitor_and_the_attempt_is_logged(floor):
    with pytest.raises(NotPermitted, match="only the Hotline Management Section"):
        visitors.create_approval(floor, "20002", fields())
    with pytest.raises(NotPermitted, match="has left"):
        visitors.create_approval(floor, "30003", fields())
    assert [r.actor for r in logged(floor, "visitor_approval_refused")] == ["20002", "30003"]


def test_an_admin_may_approve_and_times_may_be_given_as_local_text(floor):
    a = visitors.create_approval(floor, "30002", fields(valid_from="2026-11-30 10:00",
                                                       valid_until="2026-11-30T12:00+08:00"))
    assert (a["valid_from"], a["valid_until"]) == ("2026-11-30T02:00:00Z", "2026-11-30T04:00:00Z")


def test_a_cancelled_approval_cannot_be_cancelled_again_or_bound(floor):
    a = approve(floor)
    assert visitors.cancel_approval(floor, MANAGER, a["id"], "visit called off")["status"] == "cancelled"
    with pytest.raises(ServiceError, match="already cancelled"):
        visitors.cancel_approval(floor, MANAGER, a["id"])
    with pytest.raises(NotPermitted):
        visitors.cancel_approval(floor, "20002", a["id"])
    taps.handle(floor, uid_of("20001"), "kiosk")
    enter_pin(floor)
    with pytest.raises(ServiceError, match="was cancelled"):
        visitors.start_binding(floor, "kiosk", a["id"])
    with pytest.raises(NotFound):
        visitors.start_binding(floor, "kiosk", 999)


# --- binding at the kiosk --------------------------------------------------------------------------


def test_a_leader_arms_the_kiosk_and_the_next_unknown_card_becomes_the_visitors_card(floor):
    a = approve(floor)
    taps.handle(floor, uid_of("20001"), "kiosk")
    enter_pin(floor)
    armed = visitors.start_binding(floor, "kiosk", a["id"])
    assert armed["armed_by"] == "20001" and armed["expires_at"] == "2026-11-30T01:10:30Z"
    assert published(floor, "visitor_binding_armed") == [armed]
    result = taps.handle(floor, CARD, "kiosk")
    assert result["visitor"]["outcome"] == "bound" and "rollcall" not in result and "door" not in result
    assert result["visitor"]["uid_tail"] == "…B2C3" and result["visitor"]["name"] == "谭明"
    assert published(floor, "visitor_card_bound")[0]["approval_id"] == a["id"]
    (row,) = logged(floor, "visitor_card_bound")
    assert (row.actor, row.subject, row.outcome) == ("20001", CARD, str(a["id"]))
    assert [r.subject for r in logged(floor, "rollcall_tap")] == [uid_of("20001")]  # the card got no roll call
    # The arming is used up: the next unknown card is just an unknown card at roll call.
    assert taps.handle(floor, OTHER_CARD, "kiosk")["rollcall"]["outcome"] == "unknown_badge"


def test_a_staff_badge_tapped_while_the_kiosk_is_armed_answers_roll_call_and_leaves_it_armed(floor):
    a = approve(floor)
    taps.handle(floor, uid_of("20001"), "kiosk")
    enter_pin(floor)
    visitors.start_binding(floor, "kiosk", a["id"])
    assert taps.handle(floor, uid_of("20002"), "kiosk")["rollcall"]["outcome"] == "present"
    assert taps.handle(floor, CARD, "kiosk")["visitor"]["outcome"] == "bound"


def test_an_armed_binding_lapses_after_30_seconds(floor, clock):
    a = approve(floor)
    taps.handle(floor, uid_of("20001"), "kiosk")
    enter_pin(floor)
    visitors.start_binding(floor, "kiosk", a["id"])
    clock.set(clock.now + timedelta(seconds=30))
    assert visitors.binding_payload(floor, "kiosk") is None
    assert taps.handle(floor, CARD, "kiosk")["rollcall"]["outcome"] == "unknown_badge"
    assert logged(floor, "visitor_card_bound") == []


def test_a_kiosk_armed_through_one_process_binds_the_card_whose_tap_reached_another(floor, clock):
    a = approve(floor)
    with another_process(floor) as other:
        taps.handle(floor, uid_of("20001"), "kiosk")  # the reader's posts reach this process ...
        enter_pin(other)  # ... the screen's websocket lives on the other one
        armed = visitors.start_binding(other, "kiosk", a["id"])
        assert visitors.binding_payload(floor, "kiosk") == armed
        # The leader takes a card from the drawer: more than the second a process may take to look again.
        clock.set(clock.now + visitors.VISITOR_STATE_TTL)
        assert taps.handle(floor, CARD, "kiosk")["visitor"]["outcome"] == "bound"
        # Used up for both: the next unknown card is roll call's, whichever process takes it.
        assert visitors.binding_payload(other, "kiosk") is None
        assert taps.handle(other, OTHER_CARD, "kiosk")["rollcall"]["outcome"] == "unknown_badge"
        assert taps.handle(floor, OTHER_CARD, "kiosk")["rollcall"]["outcome"] == "unknown_badge"
    assert [r.subject for r in logged(floor, "visitor_card_bound")] == [CARD]


def test_the_demo_regenerated_after_a_kiosk_was_left_armed_starts_afresh(ctx):
    # `kiosk demo` regenerates its floor at every start; the last run may have stopped with a kiosk armed.
    demo.generate(ctx)
    demo.add_visitors(ctx)
    with ctx.engine.connect() as conn:
        leader = conn.execute(select(Staff.__table__).where(Staff.__table__.c.role == "leader")).first()
    sess = leader_sessions.open_session(ctx, "kiosk", leader.employee_no, leader.name, "leader", ctx.now())
    sess.pin_verified = True
    with write_transaction(ctx.engine) as conn:
        leader_sessions.save(conn, "kiosk", sess)
    with ctx.engine.connect() as conn:
        approval_id = conn.execute(select(VisitorApproval.__table__.c.id)
                                   .where(VisitorApproval.__table__.c.valid_until > ctx.now())).scalars().first()
    visitors.start_binding(ctx, "kiosk", approval_id)

    demo.generate(ctx)
    demo.add_visitors(ctx)
    assert visitors.binding_payload(ctx, "kiosk") is None
    with ctx.engine.connect() as conn:
        assert leader_sessions.live(conn, "kiosk", ctx.now()) is None


def test_the_timer_tells_the_kiosk_when_an_unused_arming_lapses(floor, clock):
    a = approve(floor)
    taps.handle(floor, uid_of("20001"), "kiosk")
    enter_pin(floor)
    visitors.start_binding(floor, "kiosk", a["id"])
    clock.set(clock.now + timedelta(seconds=29))
    visitors.tick(floor)
    assert published(floor, "visitor_binding_expired") == []
    clock.set(clock.now + timedelta(seconds=2))
    visitors.tick(floor)
    assert published(floor, "visitor_binding_expired") == [{"kiosk": "kiosk", "approval_id": a["id"]}]


def test_arming_the_kiosk_needs_a_leader_identified_by_badge(floor):
    a = approve(floor)
    with pytest.raises(NotPermitted, match="leader badge"):
        visitors.start_binding(floor, "kiosk", a["id"])
    taps.handle(floor, uid_of("20002"), "kiosk")  # an operator's tap opens no console
    with pytest.raises(NotPermitted):
        visitors.start_binding(floor, "kiosk", a["id"])


def test_a_new_card_bound_to_the_same_visitor_replaces_the_lost_one(floor, clock):
    a = approve(floor)
    bind(floor, a)
    clock.set(local(10, 5))
    assert taps.handle(floor, CARD, "door-main")["door"]["granted"]
    clock.set(local(10, 30))
    assert bind(floor, a, card=OTHER_CARD)["visitor"]["outcome"] == "bound"
    assert taps.handle(floor, CARD, "door-main")["door"]["outcome"] == "unknown_badge"
    (inside,) = visitors.inside_now(floor)  # still the same visitor, still inside
    assert inside["uid_tail"] == "…E5F6" and inside["entered_at"] == "2026-11-30T02:05:00Z"


# --- at the door ---------------------------------------------------------------------------------


def test_a_bound_visitor_is_let_in_during_the_window_and_counted_inside(floor, clock):
    a = approve(floor)
    bind(floor, a)
    assert visitors.inside_now(floor) == []
    clock.set(local(10, 5))
    decision = taps.handle(floor, CARD, "door-main")["door"]
    assert decision["granted"] and decision["visitor"] and decision["name"] == "谭明"
    (inside,) = visitors.inside_now(floor)
    assert (inside["name"], inside["host_name"], inside["overstayed"]) == ("谭明", "王班长", False)
    assert published(floor, "visitors_changed")[-1]["visitors"] == [inside]
    # A second tap while inside is no new entry.
    taps.handle(floor, CARD, "door-main")
    assert len(published(floor, "visitors_changed")) == 1


def test_a_visitor_outside_the_window_is_refused_and_the_leader_is_alarmed_by_name(floor, clock):
    a = approve(floor)
    bind(floor, a)
    decision = taps.handle(floor, CARD, "door-main")["door"]  # 09:10, the visit starts at 10:00
    assert decision["outcome"] == "visitor_outside_window" and decision["rule"] == "§2.2"
    (alert,) = alerts.history(floor)
    assert (alert["kind"], alert["severity"], alert["rule"], alert["door_id"]) == (
        "visitor_outside_window", "alarm", "§2.2", "main")
    assert alert["subject"] == "谭明" and "谭明 (市数据局)" in alert["message"]
    assert "2026-11-30 10:00 to 2026-11-30 12:00" in alert["message"]
    assert published(floor, "alert_raised")[-1]["id"] == alert["id"]
    assert visitors.inside_now(floor) == []


def test_the_card_of_a_cancelled_approval_is_refused_at_the_door_with_an_alarm(floor, clock):
    a = approve(floor)
    bind(floor, a)
    clock.set(local(10, 5))
    visitors.cancel_approval(floor, MANAGER, a["id"])
    assert taps.handle(floor, CARD, "door-main")["door"]["granted"] is False
    (alert,) = alerts.history(floor)
    assert alert["kind"] == "visitor_outside_window" and "cancelled" in alert["message"]


def test_a_visitor_who_needs_an_escort_is_refused_alone(floor, clock):
    a = approve(floor, escort_required=True)
    bind(floor, a)
    clock.set(local(10, 5))
    decision = taps.handle(floor, CARD, "door-main")["door"]
    assert decision["outcome"] == "visitor_needs_escort" and decision["rule"] == "§6.6"
    assert visitors.inside_now(floor) == []


def test_a_visitor_who_needs_an_escort_is_let_in_right_after_a_leaders_tap_at_the_same_door(floor, clock):
    a = approve(floor, escort_required=True)
    bind(floor, a)
    clock.set(local(10, 5))
    assert taps.handle(floor, uid_of("20008"), "door-main")["door"]["granted"]  # the supervisor escorts
    clock.set(clock.now + timedelta(seconds=30))
    assert taps.handle(floor, CARD, "door-main")["door"]["granted"]
    (tap,) = [r for r in logged(floor, "door_tap") if r.subject == CARD]
    assert json.loads(tap.data)["escorted_by"] == "20008"
    assert len(visitors.inside_now(floor)) == 1


def test_an_escort_tap_more_than_30_seconds_before_does_not_count(floor, clock):
    a = approve(floor, escort_required=True)
    bind(floor, a)
    clock.set(local(10, 5))
    taps.handle(floor, uid_of("20008"), "door-main")
    clock.set(clock.now + timedelta(seconds=31))
    assert taps.handle(floor, CARD, "door-main")["door"]["outcome"] == "visitor_needs_escort"


# --- leaving, overstaying, forced doors ------------------------------------------------------------


def test_tapping_the_card_at_the_kiosk_signs_the_visitor_out_and_releases_the_card(floor, clock):
    a = approve(floor)
    bind(floor, a)
    clock.set(local(10, 5))
    taps.handle(floor, CARD, "door-main")
    clock.set(local(11, 0))
    result = taps.handle(floor, CARD, "kiosk")
    assert result == {"visitor": published(floor, "visitor_signed_out")[0]}
    assert result["visitor"]["outcome"] == "signed_out" and result["visitor"]["was_inside"]
    assert visitors.inside_now(floor) == [] and published(floor, "visitors_changed")[-1]["visitors"] == []
    assert logged(floor, "visitor_signed_out")[0].subject == CARD
    assert taps.handle(floor, CARD, "door-main")["door"]["outcome"] == "unknown_badge"
    # The card goes back in the drawer and serves the next visitor; its history is kept.
    b = approve(floor, name="周来宾", valid_from=local(11, 0), valid_until=local(13, 0))
    assert bind(floor, b)["visitor"]["name"] == "周来宾"
    cards = VisitorCard.__table__
    with floor.engine.connect() as conn:
        rows = conn.execute(select(cards).where(cards.c.uid == CARD).order_by(cards.c.id)).all()
    assert [(r.approval_id, r.released_at is None) for r in rows] == [(a["id"], False), (b["id"], True)]


def test_a_visitor_still_inside_when_the_window_ends_is_flagged_once(floor, clock):
    a = approve(floor)
    bind(floor, a)
    clock.set(local(10, 5))
    taps.handle(floor, CARD, "door-main")
    clock.set(local(11, 59))
    assert visitors.tick(floor) == []
    clock.set(local(12, 0))
    (raised,) = visitors.tick(floor)
    assert (raised["kind"], raised["severity"], raised["rule"]) == ("visitor_overstayed", "warning", "§2.2")
    assert "谭明" in raised["message"] and "12:00" in raised["message"]
    assert visitors.inside_now(floor)[0]["overstayed"] is True
    clock.set(local(12, 30))
    assert visitors.tick(floor) == []
    assert [x["kind"] for x in alerts.history(floor)] == ["visitor_overstayed"]
    # Signing out at the kiosk clears it; the leader still acknowledges it.
    taps.handle(floor, CARD, "kiosk")
    (alert,) = alerts.history(floor)
    assert alert["cleared_at"] == "2026-11-30T04:30:00Z" and alert["acknowledged_at"] is None


def test_a_visitor_who_never_entered_is_not_flagged_at_the_end_of_the_window(floor, clock):
    bind(floor, approve(floor))
    clock.set(local(12, 5))
    assert visitors.tick(floor) == []


def test_a_forced_open_alert_names_the_visitors_inside(floor, clock):
    contact(floor, clock, "closed")
    bind(floor, approve(floor))
    clock.set(local(10, 5))
    taps.handle(floor, CARD, "door-main")
    contact(floor, clock, "open")
    clock.set(local(10, 5, 5))
    contact(floor, clock, "closed")
    assert alerts.history(floor) == []  # the visitor's own entry was granted
    clock.set(local(10, 20))
    contact(floor, clock, "open")
    (alert,) = alerts.history(floor)
    assert alert["kind"] == "door_forced_open" and alert["message"].endswith("Visitors inside: 谭明 (市数据局).")
    assert logged(floor, "alert_raised")[-1].reason == alert["message"][:200]


def test_a_forced_open_alert_with_nobody_visiting_is_unchanged(floor, clock):
    contact(floor, clock, "closed")
    contact(floor, clock, "open")
    (alert,) = alerts.history(floor)
    assert "Visitors inside" not in alert["message"]


# --- the command line ----------------------------------------------------------------------------


def test_the_visitor_commands_approve_list_and_cancel(floor, instance):
    run = CliRunner()
    base = ["--instance", str(instance), "visitor"]
    # The CLI runs on the real clock: the window is far ahead.
    ok = run.invoke(cli, base + ["approve", "--by", MANAGER, "--name", "谭明", "--org", "市数据局", "--id-tail",
                                 "123x", "--purpose", "consult", "--from", "2099-01-05 10:00",
                                 "--until", "2099-01-05T12:00+08:00", "--host", "20001", "--escort"])
    assert ok.exit_code == 0, ok.output
    assert "#1 [upcoming] 2099-01-05 10:00 to 2099-01-05 12:00  谭明 (市数据局), to consult" in ok.output
    assert "escort required" in ok.output
    refused = run.invoke(cli, base + ["approve", "--by", "20002", "--name", "x", "--id-tail", "1234", "--purpose",
                                      "visit", "--from", "2099-01-05 10:00", "--until", "2099-01-05 11:00",
                                      "--host", "20001"])
    assert refused.exit_code == 1 and "only the Hotline Management Section" in refused.output
    bad = run.invoke(cli, base + ["approve", "--by", MANAGER, "--name", "x", "--id-tail", "12", "--purpose", "tour",
                                  "--from", "soon", "--until", "2099-01-05 11:00", "--host", "20001"])
    assert bad.exit_code == 1 and bad.output.count("  - ") == 3
    assert "#1 [upcoming]" in run.invoke(cli, base + ["list"]).output
    assert "cancelled #1" in run.invoke(cli, base + ["cancel", "1", "--by", MANAGER]).output
    assert "no visitor approvals" in run.invoke(cli, base + ["list"]).output
    assert "#1 [cancelled]" in run.invoke(cli, base + ["list", "--all"]).output
