"""Badge + PIN at the kiosk: a badge alone acknowledges alerts; everything else needs the leader's PIN too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update

from floorfixtures import LEADER_PIN, another_process, build_floor, enter_pin, uid_of
from kiosk.cli import main as cli
from kiosk.services import alerts, leader_sessions, pins, rollcall, taps, visitors
from kiosk.services.errors import NotFound, NotPermitted, ServiceError
from kiosk.services.users import hash_password
from kiosk.store.models import Alert, Event, Staff

TZ = ZoneInfo("Asia/Shanghai")
CARD = "08A1B2C3"


def local(hh, mm, ss=0):
    return datetime(2026, 11, 30, hh, mm, ss, tzinfo=TZ).astimezone(timezone.utc)


@pytest.fixture
def floor(ctx, clock):
    """The fixture floor at 09:10, roll call of the day shift open; 20001 (leader) and 20008 have a PIN."""
    build_floor(ctx)
    clock.set(local(9, 10))
    return ctx


def session_at(ctx, kiosk_id="kiosk"):
    """The leader session at a kiosk as stored, or None."""
    with ctx.engine.connect() as conn:
        return leader_sessions.live(conn, kiosk_id, ctx.now())


def logged(ctx, kind):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Event.__table__).where(Event.__table__.c.kind == kind)
                            .order_by(Event.__table__.c.id)).all()


def published(ctx, name):
    return [p for n, p in ctx.published if n == name]


def stored_pin(ctx, employee_no):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Staff.__table__.c.pin_hash)
                            .where(Staff.__table__.c.employee_no == employee_no)).scalar()


def an_alert(ctx) -> int:
    """A forced-open alert on the main door, as the door rules raise it."""
    with ctx.engine.begin() as conn:
        return conn.execute(insert(Alert.__table__).values(
            kind="door_forced_open", severity="alarm", rule="§6.6", door_id="main", subject="door:main",
            message="forced", raised_at=ctx.now(), level=0)).inserted_primary_key[0]


# --- a badge alone --------------------------------------------------------------------------------------------

def test_a_leaders_badge_alone_acknowledges_an_alert(floor):
    alert_id = an_alert(floor)
    rollcall.record_tap(floor, uid_of("20001"))
    assert alerts.acknowledge(floor, "kiosk", alert_id, "investigating")["acknowledged_by"] == "20001"
    assert logged(floor, "leader_pin_verified") == []


def test_a_badge_opens_a_session_that_says_it_is_badge_only(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    (started,) = published(floor, "leader_session_started")
    assert started["pin_verified"] is False and started["employee_no"] == "20001"
    assert rollcall.leader_payload(floor, "kiosk")["pin_verified"] is False
    assert rollcall.board(floor)["leader"]["pin_verified"] is False


def test_roll_call_by_hand_needs_the_pin_and_works_once_it_is_entered(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(NotPermitted, match="请输入 PIN / Enter your PIN") as refused:
        rollcall.mark_by_hand(floor, "kiosk", "20003", "present", "忘带工牌")
    assert refused.value.code == "pin_required"
    with pytest.raises(NotPermitted, match="Enter your PIN"):
        rollcall.close_leader(floor, "kiosk")
    assert enter_pin(floor) == {"pin_verified": True}
    assert rollcall.mark_by_hand(floor, "kiosk", "20003", "present", "忘带工牌")["by"] == "20001"
    assert rollcall.close_leader(floor, "kiosk")["by"] == "20001"


def test_the_daily_question_needs_the_pin(floor):
    rollcall.record_tap(floor, uid_of("20002"))
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(NotPermitted, match="Enter your PIN"):
        rollcall.pick_question(floor, "kiosk")
    enter_pin(floor)
    assert rollcall.pick_question(floor, "kiosk")["employee_no"] == "20002"


def test_binding_a_visitor_card_needs_the_pin_and_works_once_it_is_entered(floor):
    with floor.engine.begin() as conn:
        conn.execute(insert(Staff.__table__).values(employee_no="30001", name="孙科长", role="management", active=True))
    approval = visitors.create_approval(floor, "30001", {
        "name": "谭明", "organisation": "市数据局", "id_doc_tail": "123X", "purpose": "visit",
        "valid_from": local(9, 0), "valid_until": local(12, 0), "host_employee_no": "20001"})
    taps.handle(floor, uid_of("20001"), "kiosk")
    for attempt in (lambda: visitors.list_for_console(floor, "kiosk"),
                    lambda: visitors.start_binding(floor, "kiosk", approval["id"])):
        with pytest.raises(NotPermitted, match="Enter your PIN"):
            attempt()
    assert visitors.binding_payload(floor, "kiosk") is None
    enter_pin(floor)
    assert [a["name"] for a in visitors.list_for_console(floor, "kiosk")["approvals"]] == ["谭明"]
    visitors.start_binding(floor, "kiosk", approval["id"])
    assert taps.handle(floor, CARD, "kiosk")["visitor"]["outcome"] == "bound"


def test_a_leader_without_a_pin_is_told_an_administrator_must_set_one(floor):
    with floor.engine.begin() as conn:
        conn.execute(update(Staff.__table__).where(Staff.__table__.c.employee_no == "20001").values(pin_hash=None))
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(NotPermitted, match="kiosk staff set-pin 20001") as refused:
        rollcall.close_leader(floor, "kiosk")
    assert refused.value.code == "pin_not_set" and "administrator" in refused.value.message
    with pytest.raises(NotPermitted, match="kiosk staff set-pin 20001"):
        enter_pin(floor)
    assert logged(floor, "leader_pin_refused")[-1].outcome == "not_set"


def test_the_pin_is_needed_again_after_the_session_ends(floor, clock):
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    rollcall.end_leader_session(floor, "kiosk")
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(NotPermitted, match="Enter your PIN"):
        rollcall.close_leader(floor, "kiosk")


def test_tapping_again_keeps_a_verified_session_verified_but_another_persons_tap_does_not(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    rollcall.record_tap(floor, uid_of("20001"))
    assert rollcall.leader_payload(floor, "kiosk")["pin_verified"] is True
    rollcall.record_tap(floor, uid_of("20008"))  # the supervisor takes over the kiosk
    assert rollcall.leader_payload(floor, "kiosk")["pin_verified"] is False
    with pytest.raises(NotPermitted, match="Enter your PIN"):
        rollcall.close_leader(floor, "kiosk")


def test_a_verified_session_still_ends_after_sixty_seconds_idle(floor, clock):
    assert floor.config["LEADER_IDLE_SECONDS"] == 60
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    clock.set(clock.now + timedelta(seconds=59))
    rollcall.mark_by_hand(floor, "kiosk", "20003", "present", "忘带工牌")  # use refreshes the idle time
    clock.set(clock.now + timedelta(seconds=60))
    with pytest.raises(NotPermitted, match="tap your leader badge"):
        rollcall.close_leader(floor, "kiosk")
    with pytest.raises(NotPermitted, match="Tap your leader badge"):
        enter_pin(floor)


def test_the_idle_time_is_configurable(floor, clock):
    floor.config["LEADER_IDLE_SECONDS"] = 20
    rollcall.record_tap(floor, uid_of("20001"))
    assert rollcall.leader_payload(floor, "kiosk")["expires_at"] == "2026-11-30T01:10:20Z"


# --- wrong PINs --------------------------------------------------------------------------------------------

def test_a_wrong_pin_is_refused_with_the_tries_left_and_logged_without_the_pin(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(ServiceError, match="Wrong PIN: 4 tries left") as wrong:
        enter_pin(floor, pin="4827")
    assert wrong.value.code == "pin_wrong" and wrong.value.to_dict()["remaining"] == 4
    with pytest.raises(ServiceError, match="3 tries left"):
        enter_pin(floor, pin="0000")
    enter_pin(floor)
    refused = logged(floor, "leader_pin_refused")
    assert [(r.actor, r.subject, r.outcome) for r in refused] == [("kiosk:kiosk", "20001", "wrong")] * 2
    assert json.loads(refused[-1].data) == {"failures": 2, "remaining": 3}
    (ok,) = logged(floor, "leader_pin_verified")
    assert (ok.actor, ok.subject, ok.outcome, ok.rule) == ("20001", "kiosk:kiosk", "ok", "§2.4")
    with floor.engine.connect() as conn:
        every_row = " ".join(" ".join(str(v) for v in r) for r in conn.execute(select(Event.__table__)))
    assert LEADER_PIN not in every_row and "4827" not in every_row


def test_a_right_pin_after_wrong_ones_starts_the_count_again(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    for _ in range(4):
        with pytest.raises(ServiceError, match="pin_wrong|Wrong PIN"):
            enter_pin(floor, pin="1357")
    enter_pin(floor)
    assert session_at(floor).pin_failures == 0


def test_a_pin_that_is_not_four_to_six_digits_is_refused_without_counting(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    for junk in ("12", "abcd", "1234567", ""):
        with pytest.raises(ServiceError, match="4 to 6 digits") as refused:
            enter_pin(floor, pin=junk)
        assert refused.value.code == "pin_format"
    assert session_at(floor).pin_failures == 0
    assert [r.outcome for r in logged(floor, "leader_pin_refused")] == ["malformed"] * 4


def test_the_fifth_wrong_pin_ends_the_session_and_raises_an_alert(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    for left in (4, 3, 2, 1):
        with pytest.raises(ServiceError, match=f"{left} tries left"):
            enter_pin(floor, pin="1357")
    with pytest.raises(NotPermitted, match="Too many wrong PINs") as locked:
        enter_pin(floor, pin="1357")
    assert locked.value.code == "pin_locked"
    assert rollcall.leader_payload(floor, "kiosk") is None
    assert published(floor, "leader_session_ended") == [{"kiosk": "kiosk", "reason": "pin_locked"}]
    (alert,) = published(floor, "alert_raised")
    assert (alert["kind"], alert["severity"], alert["rule"]) == ("leader_pin_locked_out", "warning", "§2.4")
    assert "王班长 (20001)" in alert["message"] and "1357" not in alert["message"]
    (ended,) = logged(floor, "leader_pin_locked_out")
    assert (ended.subject, ended.outcome, json.loads(ended.data)) == ("20001", "session_ended", {"failures": 5})
    assert [a["kind"] for a in alerts.history(floor)] == ["leader_pin_locked_out"]
    # The session is gone: the right PIN is no help now, only a new badge tap.
    with pytest.raises(NotPermitted, match="Tap your leader badge"):
        enter_pin(floor)
    with pytest.raises(NotPermitted, match="tap your leader badge"):
        rollcall.close_leader(floor, "kiosk")
    # A leader's badge (and no PIN) acknowledges that alert like any other.
    rollcall.record_tap(floor, uid_of("20008"))
    assert alerts.acknowledge(floor, "kiosk", alert["id"], "investigating")["acknowledged_by"] == "20008"


def test_the_wrong_pin_allowance_is_configurable(floor):
    floor.config["LEADER_PIN_MAX_FAILURES"] = 2
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(ServiceError, match="1 tries left"):
        enter_pin(floor, pin="1357")
    with pytest.raises(NotPermitted, match="Too many wrong PINs"):
        enter_pin(floor, pin="1357")


def lose_a_session(ctx, employee_no="20001"):
    """Tap the badge and enter wrong PINs until the session ends."""
    rollcall.record_tap(ctx, uid_of(employee_no))
    with pytest.raises(NotPermitted) as ended:
        for _ in range(10):
            try:
                enter_pin(ctx, pin="1357")
            except ServiceError as exc:
                if exc.code != "pin_wrong":
                    raise
    return ended.value


def test_the_third_session_lost_to_wrong_pins_in_a_day_blocks_the_pin_until_it_is_set_again(floor, clock):
    floor.config["LEADER_PIN_MAX_FAILURES"] = 2
    assert lose_a_session(floor).code == "pin_locked"
    assert lose_a_session(floor).code == "pin_locked"
    assert lose_a_session(floor).code == "pin_locked"
    assert "now blocked" in published(floor, "alert_raised")[-1]["message"]
    assert [e.outcome for e in logged(floor, "leader_pin_locked_out")] == ["session_ended", "session_ended",
                                                                         "pin_blocked"]
    # Blocked: even the right PIN is not checked, and the screen says what to do.
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(NotPermitted, match="kiosk staff set-pin 20001") as blocked:
        enter_pin(floor)
    assert blocked.value.code == "pin_blocked"
    assert logged(floor, "leader_pin_refused")[-1].outcome == "blocked"
    # Another leader is not affected.
    rollcall.record_tap(floor, uid_of("20008"))
    enter_pin(floor)
    # An administrator sets a new PIN: the block is lifted.
    pins.set_pin(floor, "20001", "4826", actor="admin:test")
    rollcall.record_tap(floor, uid_of("20001"))
    assert enter_pin(floor, pin="4826") == {"pin_verified": True}


def test_lockouts_older_than_a_day_do_not_count_toward_the_block(floor, clock):
    floor.config["LEADER_PIN_MAX_FAILURES"] = 1
    lose_a_session(floor)
    lose_a_session(floor)
    clock.set(floor.now() + timedelta(hours=25))
    lose_a_session(floor)
    rollcall.record_tap(floor, uid_of("20001"))
    assert enter_pin(floor) == {"pin_verified": True}


def test_tapping_the_badge_again_does_not_wipe_the_wrong_pin_count(floor):
    rollcall.record_tap(floor, uid_of("20001"))
    for _ in range(3):
        with pytest.raises(ServiceError):
            enter_pin(floor, pin="1357")
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(ServiceError, match="1 tries left"):
        enter_pin(floor, pin="1357")


def test_a_pin_at_one_kiosk_verifies_only_that_kiosks_session(floor):
    rollcall.record_tap(floor, uid_of("20001"), "kiosk")
    rollcall.record_tap(floor, uid_of("20008"), "kiosk-b")
    enter_pin(floor, "kiosk")
    assert rollcall.leader_payload(floor, "kiosk-b")["pin_verified"] is False
    (verified,) = published(floor, "leader_pin_verified")
    assert verified["kiosk"] == "kiosk" and verified["pin_verified"] is True


# --- one session, every server process ------------------------------------------------------------------------

@pytest.fixture
def other_process(floor):
    with another_process(floor) as other:
        yield other


def test_the_pin_typed_at_a_screen_on_one_process_verifies_the_tap_another_process_took(floor, other_process):
    rollcall.record_tap(floor, uid_of("20001"))  # the kiosk PC's reader posted to this process
    with pytest.raises(NotPermitted, match="Enter your PIN"):  # the screen's websocket lives on the other
        rollcall.close_leader(other_process, "kiosk")
    enter_pin(other_process)
    assert rollcall.leader_payload(floor, "kiosk")["pin_verified"] is True
    rollcall.mark_by_hand(other_process, "kiosk", "20003", "present", "忘带工牌")
    rollcall.end_leader_session(other_process, "kiosk")
    with pytest.raises(NotPermitted, match="tap your leader badge"):
        rollcall.close_leader(floor, "kiosk")


def test_wrong_pins_count_on_every_process_and_an_idle_end_is_told_once(floor, other_process, clock):
    rollcall.record_tap(floor, uid_of("20001"))
    for ctx in (floor, other_process, floor):
        with pytest.raises(ServiceError, match="Wrong PIN"):
            enter_pin(ctx, pin="1357")
    assert session_at(other_process).pin_failures == 3
    clock.set(clock.now + timedelta(seconds=61))
    assert session_at(floor) is None  # idle past its end: gone for every process at once
    assert rollcall.expire_leader_sessions(other_process) == ["kiosk"]
    assert rollcall.expire_leader_sessions(floor) == []
    assert published(other_process, "leader_session_ended") == [{"kiosk": "kiosk"}]
    assert published(floor, "leader_session_ended") == []


def test_a_pin_checked_while_the_next_person_tapped_does_not_verify_their_session(floor, monkeypatch):
    rollcall.record_tap(floor, uid_of("20001"))
    check = pins.check_password

    def slow_check(pin, stored):  # the supervisor taps the kiosk while the leader's PIN is being checked
        rollcall.record_tap(floor, uid_of("20008"))
        return check(pin, stored)

    monkeypatch.setattr(pins, "check_password", slow_check)
    with pytest.raises(NotPermitted, match="ended meanwhile"):
        enter_pin(floor)
    assert session_at(floor).employee_no == "20008" and session_at(floor).pin_verified is False


# --- set by an administrator -------------------------------------------------------------------------------

def test_an_administrator_sets_a_pin_stored_only_as_a_salted_scrypt_hash(floor):
    result = pins.set_pin(floor, "20002", "2580")
    assert result == {"employee_no": "20002", "name": "李娜", "role": "operator", "outcome": "set"}
    stored = stored_pin(floor, "20002")
    assert stored.startswith("scrypt$n=32768,r=8,p=1$") and "2580" not in stored
    pins.set_pin(floor, "20003", "2580")
    assert stored_pin(floor, "20003") != stored  # a salt of its own
    assert pins.set_pin(floor, "20002", "1357")["outcome"] == "changed"
    assert [(r.actor, r.subject, r.outcome) for r in logged(floor, "staff_pin_set")] == [
        ("cli", "20002", "set"), ("cli", "20003", "set"), ("cli", "20002", "changed")]


@pytest.mark.parametrize("pin, words", [("123", "4 to 6 digits"), ("1111", "repeats"), ("4321", "straight run"),
                                        ("0002", "employee number")])
def test_a_malformed_or_trivially_weak_pin_is_refused(floor, pin, words):
    with pytest.raises(ServiceError, match=words) as refused:
        pins.set_pin(floor, "20002", pin)
    assert refused.value.code == "weak_pin" and stored_pin(floor, "20002") is None


def test_no_pin_for_someone_unknown_or_who_has_left(floor):
    with pytest.raises(NotFound, match="99999"):
        pins.set_pin(floor, "99999", "2580")
    with pytest.raises(ServiceError, match="has left"):
        pins.set_pin(floor, "20006", "2580")


def test_a_cleared_pin_leaves_the_leader_only_acknowledging_alerts(floor):
    assert pins.clear_pin(floor, "20001")["outcome"] == "cleared"
    assert pins.clear_pin(floor, "20001")["outcome"] == "none_set"
    assert [r.outcome for r in logged(floor, "staff_pin_cleared")] == ["cleared", "none_set"]
    alert_id = an_alert(floor)
    rollcall.record_tap(floor, uid_of("20001"))
    with pytest.raises(NotPermitted, match="set-pin"):
        rollcall.close_leader(floor, "kiosk")
    assert alerts.acknowledge(floor, "kiosk", alert_id, "false_alarm")["acknowledged_by"] == "20001"


def test_a_pin_hashed_with_weaker_parameters_is_rehashed_when_it_is_next_entered(floor):
    with floor.engine.begin() as conn:
        conn.execute(update(Staff.__table__).where(Staff.__table__.c.employee_no == "20001")
                     .values(pin_hash=hash_password(LEADER_PIN, n=2 ** 14)))
    rollcall.record_tap(floor, uid_of("20001"))
    enter_pin(floor)
    assert stored_pin(floor, "20001").startswith("scrypt$n=32768,")


# --- the command line --------------------------------------------------------------------------------------

def run(instance, *args, input=None):
    return CliRunner().invoke(cli, ["--instance", str(instance), "staff", *args], input=input)


def test_set_pin_asks_twice_without_echo_and_clear_pin_removes_it(floor, instance):
    result = run(instance, "set-pin", "20002", input="2580\n2580\n")
    assert result.exit_code == 0, result.output
    assert "kiosk PIN of 20002 李娜 (operator) set" in result.output and result.output.count("2580") == 0
    assert stored_pin(floor, "20002").startswith("scrypt$")
    result = run(instance, "clear-pin", "20002")
    assert result.exit_code == 0 and "cleared" in result.output and stored_pin(floor, "20002") is None
    assert "had no kiosk PIN" in run(instance, "clear-pin", "20002").output


def test_set_pin_refuses_two_different_entries_and_weak_pins(floor, instance):
    result = run(instance, "set-pin", "20002", input="2580\n2581\n2580\n2580\n")
    assert result.exit_code == 0 and "do not match" in result.output
    result = run(instance, "set-pin", "20002", "--pin-stdin", input="1234\n")
    assert result.exit_code == 1 and "straight run" in result.output
    assert run(instance, "set-pin", "99999", "--pin-stdin", input="2580\n").exit_code == 1


def test_set_pin_reads_stdin_for_scripts_and_is_audited(floor, instance):
    result = run(instance, "set-pin", "20008", "--pin-stdin", input="1357\n")
    assert result.exit_code == 0 and "changed" in result.output
    assert [r.subject for r in logged(floor, "staff_pin_set")] == ["20008"]
    rollcall.record_tap(floor, uid_of("20008"))
    enter_pin(floor, pin="1357")
    assert rollcall.leader_payload(floor, "kiosk")["pin_verified"] is True
