"""Alerts leaders act on (§5): acknowledged by badge with a reason, escalated level by level, mailed."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from floorfixtures import build_floor, uid_of
from kiosk.devices.notifiers import NotificationFailed, SmtpNotifier
from kiosk.services import alerts, doors, rollcall, sensors
from kiosk.services.errors import NotPermitted, ServiceError
from kiosk.store.models import Alert, Event

SECRET = b"alerts-test"


@pytest.fixture
def raised(ctx, clock):
    """A floor with a forced-open alert on the main door."""
    build_floor(ctx)
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + SECRET.decode()
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main"}])
    for n, state in enumerate(("closed", "open"), start=1):
        body = json.dumps({"events": [{"id": f"g:{n}", "type": "point_changed", "point": "door:main",
                                       "state": state, "at": clock.now.isoformat()}]}).encode()
        sensors.ingest(ctx, "floor-3", body, sensors.sign(SECRET, body))
    (alert,) = alerts.history(ctx)
    return alert["id"]


def row(ctx, alert_id):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Alert.__table__).where(Alert.__table__.c.id == alert_id)).first()


def test_a_leaders_badge_acknowledges_with_a_reason_and_it_is_logged(ctx, raised):
    rollcall.record_tap(ctx, uid_of("20001"))  # the duty leader taps at the kiosk
    result = alerts.acknowledge(ctx, "kiosk", raised, "investigating", "去看了")
    assert result["acknowledged_by"] == "20001" and result["ack_reason"] == "investigating"
    assert ("alert_acknowledged", result) in ctx.published
    with ctx.engine.connect() as conn:
        assert conn.execute(select(Event.__table__.c.kind).where(
            Event.__table__.c.kind == "alert_acknowledged")).scalar_one() == "alert_acknowledged"


def test_an_operators_badge_cannot_acknowledge_and_the_attempt_is_logged(ctx, raised):
    rollcall.record_tap(ctx, uid_of("20002"))
    with pytest.raises(NotPermitted, match="tap your leader badge"):
        alerts.acknowledge(ctx, "kiosk", raised, "false_alarm")
    assert row(ctx, raised).acknowledged_at is None
    with ctx.engine.connect() as conn:
        refused = conn.execute(select(Event.__table__).where(Event.__table__.c.kind == "alert_ack_refused")).all()
    assert len(refused) == 1


def test_security_staff_may_acknowledge_but_not_run_roll_call(ctx, raised):
    from floorfixtures import PEOPLE  # noqa: F401
    from sqlalchemy import update

    from kiosk.store.models import Staff

    with ctx.engine.begin() as conn:
        conn.execute(update(Staff.__table__).where(Staff.__table__.c.employee_no == "20008").values(role="security"))
    rollcall.record_tap(ctx, uid_of("20008"))
    assert alerts.acknowledge(ctx, "kiosk", raised, "false_alarm")["acknowledged_by"] == "20008"
    with pytest.raises(NotPermitted, match="security cannot"):
        rollcall.close_leader(ctx, "kiosk")


def test_a_reason_outside_the_list_or_other_without_a_comment_is_refused(ctx, raised):
    rollcall.record_tap(ctx, uid_of("20001"))
    with pytest.raises(ServiceError, match="Choose a reason"):
        alerts.acknowledge(ctx, "kiosk", raised, "because")
    with pytest.raises(ServiceError, match="Say what happened"):
        alerts.acknowledge(ctx, "kiosk", raised, "other", " ")


def test_an_alert_is_acknowledged_once(ctx, raised):
    rollcall.record_tap(ctx, uid_of("20001"))
    alerts.acknowledge(ctx, "kiosk", raised, "delivery")
    with pytest.raises(ServiceError, match="already acknowledged by 20001"):
        alerts.acknowledge(ctx, "kiosk", raised, "delivery")


class Recorder:
    def __init__(self):
        self.calls = []

    def notify(self, roles, alert):
        self.calls.append((roles, alert["id"], alert["level"]))


def test_an_unacknowledged_alert_goes_to_the_supervisor_after_two_minutes_then_to_security(ctx, clock, raised):
    rec = Recorder()
    clock.set(clock.now + timedelta(seconds=119))
    assert alerts.escalate(ctx, [rec]) == []
    clock.set(clock.now + timedelta(seconds=1))
    alerts.escalate(ctx, [rec])
    assert rec.calls == [(("supervisor",), raised, 1)]
    clock.set(clock.now + timedelta(seconds=299))
    alerts.escalate(ctx, [rec])
    clock.set(clock.now + timedelta(seconds=1))
    alerts.escalate(ctx, [rec])
    alerts.escalate(ctx, [rec])
    assert rec.calls[1:] == [(("security", "management"), raised, 2)]
    assert row(ctx, raised).level == 2


def test_an_acknowledged_alert_is_not_escalated(ctx, clock, raised):
    rollcall.record_tap(ctx, uid_of("20001"))
    alerts.acknowledge(ctx, "kiosk", raised, "delivery")
    rec = Recorder()
    clock.set(clock.now + timedelta(minutes=30))
    assert alerts.escalate(ctx, [rec]) == [] and rec.calls == []


def test_escalation_mails_the_supervisor_through_a_real_smtp_server(ctx, clock, raised):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    class Keep(Sink):
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Keep()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ctx.config.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "NOTIFY_SUPERVISOR": "zhuguan@hotline.local"})
        clock.set(clock.now + timedelta(seconds=121))
        alerts.escalate(ctx)
    finally:
        controller.stop()
    (mail,) = handler.messages
    assert mail.rcpt_tos == ["zhuguan@hotline.local"]
    from email import message_from_bytes, policy

    parsed = message_from_bytes(mail.content, policy=policy.default)
    assert "§6.6" in parsed["Subject"] and "door_forced_open" in parsed["Subject"]
    assert "告警 door_forced_open" in parsed.get_content()
    assert any(n == "alert_escalated" for n, _ in ctx.published)


def test_a_mail_server_that_is_down_is_logged_and_the_screens_still_hear(ctx, clock, raised):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here
    ctx.config.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "NOTIFY_SUPERVISOR": "zhuguan@hotline.local"})
    clock.set(clock.now + timedelta(seconds=121))
    alerts.escalate(ctx)
    assert any(n == "alert_escalated" for n, _ in ctx.published)
    with ctx.engine.connect() as conn:
        failed = conn.execute(select(Event.__table__).where(Event.__table__.c.kind == "notification_failed")).all()
    assert len(failed) == 1 and "SmtpNotifier" in failed[0].outcome
    with pytest.raises(NotificationFailed):
        SmtpNotifier("127.0.0.1", port, "a@b", {"supervisor": ["x@y"]}).notify(("supervisor",), {"id": 1})


def test_alert_history_filters_by_kind_and_acknowledgement(ctx, raised):
    assert [a["kind"] for a in alerts.history(ctx, kind="door_forced_open")] == ["door_forced_open"]
    assert alerts.history(ctx, kind="door_held_open") == []
    assert len(alerts.history(ctx, unacknowledged=True)) == 1


def test_two_escalation_rounds_at_once_escalate_and_notify_once(ctx, clock, raised):
    """Two processes' timer rounds overlap while the timer lease changes hands: the second reads the alert
    while the first is between its read and its write."""
    import threading

    from sqlalchemy import event

    rec = Recorder()
    first_read, second_done = threading.Event(), threading.Event()

    def pause_after_the_first_rounds_read(conn, cursor, statement, *args):
        if (threading.current_thread().name == "first" and not first_read.is_set()
                and statement.lstrip().upper().startswith("SELECT") and "alerts" in statement):
            first_read.set()
            second_done.wait(1.0)  # the second round goes now, unless it must wait for the first to write

    def second() -> None:
        first_read.wait(5)
        alerts.escalate(ctx, [rec])
        second_done.set()

    clock.set(clock.now + timedelta(minutes=2))
    event.listen(ctx.engine, "after_cursor_execute", pause_after_the_first_rounds_read)
    try:
        rounds = [threading.Thread(target=alerts.escalate, args=(ctx, [rec]), name="first"),
                  threading.Thread(target=second)]
        for r in rounds:
            r.start()
        for r in rounds:
            r.join(10)
    finally:
        event.remove(ctx.engine, "after_cursor_execute", pause_after_the_first_rounds_read)
    assert first_read.is_set() and second_done.is_set()
    assert rec.calls == [(("supervisor",), raised, 1)]
    assert row(ctx, raised).level == 1
    with ctx.engine.connect() as conn:
        assert len(conn.execute(select(Event.__table__).where(Event.__table__.c.kind == "alert_escalated")).all()) == 1
