"""Door rules (§6.5, §6.6): pure, time passed in, no app, no sleep."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kiosk.domain.doors import (FAULT, FORCED_OPEN, HELD_OPEN, HELD_OPEN_WARNING, SENSOR_UNKNOWN, TAMPER,
                                AlarmCleared, Contact, DoorClosed, DoorFaulted, DoorForcedOpen, DoorHeldOpen,
                                DoorHeldOpenWarning, DoorOpened, DoorPolicy, DoorSensorRestored, DoorSensorUnknown,
                                DoorState, DoorTampered, PossibleTailgating, check_held_open, countdown, new_door,
                                on_contact, on_grant, raised_kind, tick)

T0 = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc)
P = DoorPolicy()


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def closed_door() -> DoorState:
    state, events = on_contact(new_door("D1"), "closed", T0, P)
    assert events == []
    return state


def kinds(events: list) -> list[type]:
    return [type(e) for e in events]


def opened_after_badge(at: float = 2, grant_at: float = 0) -> DoorState:
    state, _ = on_grant(closed_door(), s(grant_at), "20002", policy=P)
    state, events = on_contact(state, "open", s(at), P)
    assert kinds(events) == [DoorOpened]
    return state


# --- opening and closing -----------------------------------------------------------------------


def test_a_door_opened_within_ten_seconds_of_an_accepted_badge_is_explained():
    state, _ = on_grant(closed_door(), s(0), "20002", "badge", policy=P)
    state, events = on_contact(state, Contact.OPEN, s(10), P)
    assert kinds(events) == [DoorOpened]
    opened = events[0]
    assert (opened.origin, opened.grant_who, opened.grant_kind) == ("granted", "20002", "badge")
    assert opened.severity == "info" and opened.at == s(10) and opened.door_id == "D1"
    assert state.is_open and not state.is_closed


def test_the_exit_button_is_a_grant_too():
    state, _ = on_grant(closed_door(), s(0), "exit-1", "exit_button", policy=P)
    _, events = on_contact(state, "open", s(3), P)
    assert kinds(events) == [DoorOpened] and events[0].grant_kind == "exit_button"


def test_a_visitor_card_is_a_grant_too():
    state, _ = on_grant(closed_door(), s(0), "Zhang Wei", "visitor", policy=P)
    _, events = on_contact(state, "open", s(3), P)
    assert kinds(events) == [DoorOpened] and events[0].grant_kind == "visitor"


def test_an_unknown_grant_kind_is_refused():
    with pytest.raises(ValueError):
        on_grant(closed_door(), s(0), "x", "wave", policy=P)


def test_closing_the_door_ends_the_opening_with_its_seen_open_time():
    state, events = on_contact(opened_after_badge(at=2), "closed", s(7), P)
    assert kinds(events) == [DoorClosed]
    assert events[0].open_seconds == 5 and events[0].opened_at == s(2) and not events[0].after_sensor_problem
    assert state.is_closed and state.opening is None


def test_a_repeated_report_changes_nothing():
    state = opened_after_badge()
    again, events = on_contact(state, "open", s(3), P)
    assert events == [] and again.opening == state.opening
    state, _ = on_contact(state, "closed", s(4), P)
    _, events = on_contact(state, "closed", s(5), P)
    assert events == []


# --- forced open (§6.6) ------------------------------------------------------------------------


def test_a_door_opened_with_no_grant_is_forced_open():
    _, events = on_contact(closed_door(), "open", s(5), P)
    assert kinds(events) == [DoorOpened, DoorForcedOpen]
    forced = events[1]
    assert forced.rule == "§6.6" and forced.severity == "alarm" and forced.alarm_kind == FORCED_OPEN
    assert "no accepted badge" in forced.message


def test_a_grant_older_than_the_entry_window_does_not_explain_an_opening():
    state, _ = on_grant(closed_door(), s(0), "20002", policy=P)
    _, events = on_contact(state, "open", s(10.5), P)
    assert DoorForcedOpen in kinds(events)


def test_a_grant_exactly_at_the_edge_of_the_entry_window_still_explains_it():
    state, _ = on_grant(closed_door(), s(0), "20002", policy=P)
    _, events = on_contact(state, "open", s(10), P)
    assert DoorForcedOpen not in kinds(events)


def test_the_entry_window_is_configurable():
    wide = DoorPolicy(entry_window=timedelta(seconds=60))
    state, _ = on_grant(closed_door(), s(0), "20002", policy=wide)
    _, events = on_contact(state, "open", s(45), wide)
    assert kinds(events) == [DoorOpened]


def test_a_grant_after_the_door_opened_does_not_explain_that_opening():
    state, _ = on_contact(closed_door(), "open", s(1), P)
    state, events = on_grant(state, s(2), "20002", policy=P)
    assert events == [] and state.active_alarms == (FORCED_OPEN,)


def test_a_forced_opening_is_cleared_when_the_door_closes_and_clearing_names_the_alarm():
    state, _ = on_contact(closed_door(), "open", s(1), P)
    _, events = on_contact(state, "closed", s(3), P)
    assert kinds(events) == [DoorClosed, AlarmCleared]
    clear = events[1]
    assert (clear.alarm_kind, clear.raised_at, clear.rule, clear.severity) == (FORCED_OPEN, s(1), "§6.6", "info")


# --- tailgating (§6.6) -------------------------------------------------------------------------


def test_a_second_opening_within_the_same_grants_window_is_possible_tailgating_not_forced_open():
    state, _ = on_contact(opened_after_badge(at=1), "closed", s(3), P)
    state, events = on_contact(state, "open", s(5), P)
    assert kinds(events) == [DoorOpened, PossibleTailgating]
    tail = events[1]
    assert tail.reason == "reopened" and tail.severity == "warning" and tail.rule == "§6.6"
    assert tail.grant_who == "20002" and "again" in events[0].message
    assert "cannot count people" in tail.message
    assert state.active_alarms == ()


def test_without_tailgate_reopens_a_second_opening_on_one_grant_is_forced_open():
    strict = DoorPolicy(tailgate_reopens=False)
    state, _ = on_grant(closed_door(), s(0), "20002", policy=strict)
    state, _ = on_contact(state, "open", s(1), strict)
    state, _ = on_contact(state, "closed", s(3), strict)
    _, events = on_contact(state, "open", s(5), strict)
    assert kinds(events) == [DoorOpened, DoorForcedOpen]


def test_two_grants_explain_two_openings():
    state, _ = on_grant(closed_door(), s(0), "20002", policy=P)
    state, _ = on_grant(state, s(1), "20003", policy=P)
    state, first = on_contact(state, "open", s(2), P)
    state, _ = on_contact(state, "closed", s(4), P)
    state, second = on_contact(state, "open", s(6), P)
    assert (first[0].grant_who, second[0].grant_who) == ("20002", "20003")
    assert kinds(second) == [DoorOpened]


def test_a_door_open_longer_than_one_person_needs_after_one_grant_is_possible_tailgating():
    state = opened_after_badge(at=0)
    state, events = tick(state, s(14), P)
    assert events == []
    state, events = tick(state, s(15), P)
    assert kinds(events) == [PossibleTailgating]
    assert events[0].reason == "open_too_long" and events[0].open_seconds == 15
    assert "cannot count people" in events[0].message
    _, events = tick(state, s(16), P)
    assert events == []


def test_a_second_grant_while_the_door_is_open_explains_a_longer_opening():
    state = opened_after_badge(at=0)
    state, _ = on_grant(state, s(5), "20003", policy=P)
    _, events = tick(state, s(16), P)
    assert events == []


def test_tailgating_by_duration_can_be_switched_off():
    quiet = DoorPolicy(tailgate_after=None)
    state, _ = on_grant(closed_door(), s(0), "20002", policy=quiet)
    state, _ = on_contact(state, "open", s(0), quiet)
    _, events = tick(state, s(19), quiet)
    assert events == []


def test_a_forced_opening_is_not_also_reported_as_tailgating():
    state, _ = on_contact(closed_door(), "open", s(0), P)
    _, events = tick(state, s(16), P)
    assert events == []


# --- held open (§6.5) --------------------------------------------------------------------------


def test_a_door_held_open_gets_one_prewarn_then_one_alarm():
    state = opened_after_badge(at=0)
    state, _ = on_grant(state, s(1), "20003", policy=P)  # two people: no tailgating noise here
    state, events = tick(state, s(19.9), P)
    assert events == []
    state, events = tick(state, s(20), P)
    assert kinds(events) == [DoorHeldOpenWarning]
    warn = events[0]
    assert (warn.severity, warn.rule, warn.alarm_kind, warn.alarm_in_seconds) == ("warning", "§6.5",
                                                                                  HELD_OPEN_WARNING, 10)
    state, events = tick(state, s(25), P)
    assert events == []
    state, events = tick(state, s(30), P)
    assert kinds(events) == [DoorHeldOpen]
    alarm = events[0]
    assert (alarm.severity, alarm.rule, alarm.alarm_kind, alarm.limit_seconds) == ("alarm", "§6.5", HELD_OPEN, 30)
    assert "kept closed" in alarm.message
    state, events = tick(state, s(300), P)
    assert events == []


def test_closing_a_held_open_door_clears_the_prewarn_and_the_alarm():
    state = opened_after_badge(at=0)
    state, _ = tick(state, s(20), P)
    state, _ = tick(state, s(31), P)
    state, events = on_contact(state, "closed", s(40), P)
    assert kinds(events) == [DoorClosed, AlarmCleared, AlarmCleared]
    assert [e.alarm_kind for e in events[1:]] == [HELD_OPEN_WARNING, HELD_OPEN]
    assert all(e.reason == "door closed" for e in events[1:])
    assert state.active_alarms == ()


def test_a_door_closed_late_without_a_tick_still_gets_its_alarm_before_closing():
    state = opened_after_badge(at=0)
    _, events = on_contact(state, "closed", s(45), P)
    assert kinds(events) == [PossibleTailgating, DoorHeldOpen, DoorClosed, AlarmCleared]


def test_when_prewarn_and_alarm_fall_due_together_only_the_alarm_is_raised():
    state = opened_after_badge(at=0)
    state, events = tick(state, s(60), P)
    assert DoorHeldOpenWarning not in kinds(events) and DoorHeldOpen in kinds(events)
    _, events = tick(state, s(61), P)
    assert events == []


def test_the_held_open_timings_are_configurable_and_prewarn_can_be_off():
    policy = DoorPolicy(prewarn_after=None, alarm_after=timedelta(minutes=2), tailgate_after=None)
    state, _ = on_contact(closed_door(), "open", s(0), policy)
    state, events = tick(state, s(100), policy)
    assert events == []
    _, events = tick(state, s(120), policy)
    assert kinds(events) == [DoorHeldOpen]


def test_check_held_open_reports_without_changing_anything():
    state = opened_after_badge(at=0)
    assert kinds(check_held_open(state, s(30), P)) == [PossibleTailgating, DoorHeldOpen]
    assert state.opening is not None and state.opening.raised == ()


def test_the_countdown_tells_the_screen_how_long_until_the_alarm():
    state = opened_after_badge(at=0)
    assert countdown(state, s(12), P) == 18
    assert countdown(state, s(45), P) == 0
    assert countdown(closed_door(), s(12), P) is None


def test_the_policy_refuses_timings_that_make_no_sense():
    with pytest.raises(ValueError):
        DoorPolicy(prewarn_after=timedelta(seconds=40), alarm_after=timedelta(seconds=30))
    with pytest.raises(ValueError):
        DoorPolicy(alarm_after=timedelta(0))
    with pytest.raises(ValueError):
        DoorPolicy(entry_window=timedelta(seconds=-1))


# --- sensor problems ---------------------------------------------------------------------------


@pytest.mark.parametrize("contact, event, kind, severity", [
    ("unknown", DoorSensorUnknown, SENSOR_UNKNOWN, "warning"),
    ("tamper", DoorTampered, TAMPER, "alarm"),
    ("fault", DoorFaulted, FAULT, "warning"),
])
def test_each_sensor_problem_is_its_own_alert_and_never_a_closed_door(contact, event, kind, severity):
    state, events = on_contact(closed_door(), contact, s(1), P)
    assert kinds(events) == [event]
    assert (events[0].alarm_kind, events[0].severity, events[0].was) == (kind, severity, "closed")
    assert not state.is_closed and not state.is_open and state.has_sensor_problem
    assert state.active_alarms == (kind,)
    assert "may be open" in events[0].message


@pytest.mark.parametrize("contact, kind", [("unknown", SENSOR_UNKNOWN), ("tamper", TAMPER), ("fault", FAULT)])
def test_a_sensor_back_to_closed_is_restored_and_its_alert_cleared(contact, kind):
    state, _ = on_contact(closed_door(), contact, s(1), P)
    state, events = on_contact(state, "closed", s(5), P)
    assert kinds(events) == [DoorSensorRestored, AlarmCleared]
    assert (events[0].contact, events[0].was) == ("closed", contact)
    assert (events[1].alarm_kind, events[1].raised_at) == (kind, s(1))
    assert state.is_closed and state.active_alarms == ()


def test_a_repeated_problem_report_is_alerted_once():
    state, _ = on_contact(closed_door(), "unknown", s(1), P)
    _, events = on_contact(state, "unknown", s(2), P)
    assert events == []


def test_a_problem_changing_kind_clears_the_old_alert_and_raises_the_new():
    state, _ = on_contact(closed_door(), "unknown", s(1), P)
    state, events = on_contact(state, "tamper", s(2), P)
    assert kinds(events) == [AlarmCleared, DoorTampered]
    assert events[0].alarm_kind == SENSOR_UNKNOWN and state.active_alarms == (TAMPER,)


def test_a_new_door_reported_unknown_raises_the_alert():
    state, events = on_contact(new_door("D1"), "unknown", s(0), P)
    assert kinds(events) == [DoorSensorUnknown] and not state.is_closed


def test_a_new_door_first_seen_open_is_an_opening_of_unknown_start_not_forced():
    state, events = on_contact(new_door("D1"), "open", s(0), P)
    assert kinds(events) == [DoorOpened] and events[0].origin == "unknown_start"


def test_a_door_first_seen_open_after_the_sensor_comes_back_is_not_forced_open_and_its_clock_starts_then():
    state, _ = on_contact(closed_door(), "unknown", s(1), P)
    state, events = on_contact(state, "open", s(100), P)
    assert kinds(events) == [DoorSensorRestored, AlarmCleared, DoorOpened]
    assert events[2].origin == "unknown_start" and "unknown" in events[2].message
    assert countdown(state, s(100), P) == 30
    state, events = tick(state, s(129), P)
    assert DoorHeldOpen not in kinds(events)
    _, events = tick(state, s(130), P)
    assert DoorHeldOpen in kinds(events)


def test_an_opening_of_unknown_start_is_never_tailgating_by_duration():
    state, _ = on_grant(closed_door(), s(0), "20002", policy=P)
    state, _ = on_contact(state, "fault", s(1), P)
    state, _ = on_contact(state, "open", s(2), P)
    _, events = tick(state, s(20), P)
    assert PossibleTailgating not in kinds(events)


def test_open_then_unknown_then_open_is_one_opening_with_one_forced_alarm():
    state, _ = on_contact(closed_door(), "open", s(0), P)
    state, events = on_contact(state, "unknown", s(5), P)
    assert kinds(events) == [DoorSensorUnknown]
    state, events = on_contact(state, "open", s(8), P)
    assert kinds(events) == [DoorSensorRestored, AlarmCleared]
    assert state.active_alarms == (FORCED_OPEN,)


@pytest.mark.parametrize("problem", ["unknown", "tamper", "fault"])
def test_the_held_open_clock_pauses_while_the_sensor_has_a_problem_and_resumes_after(problem):
    state = opened_after_badge(at=0)
    state, _ = on_grant(state, s(1), "20003", policy=P)
    state, _ = on_contact(state, problem, s(10), P)
    assert countdown(state, s(10), P) is None
    state, events = tick(state, s(500), P)
    assert events == []  # the sensor alert stands in: no held-open alarm while we cannot see the door
    state, events = on_contact(state, "open", s(500), P)
    assert DoorOpened not in kinds(events) and DoorHeldOpen not in kinds(events)
    assert countdown(state, s(500), P) == 20  # 10 s seen before the problem
    state, events = tick(state, s(510), P)
    assert kinds(events) == [DoorHeldOpenWarning]
    _, events = tick(state, s(520), P)
    assert kinds(events) == [DoorHeldOpen]


def test_an_alarm_raised_before_a_sensor_problem_stays_raised_until_the_door_is_seen_closed():
    state = opened_after_badge(at=0)
    state, _ = tick(state, s(31), P)
    state, events = on_contact(state, "tamper", s(40), P)
    assert HELD_OPEN in state.active_alarms and not any(isinstance(e, AlarmCleared) for e in events)
    state, events = on_contact(state, "closed", s(60), P)
    assert kinds(events) == [DoorSensorRestored, AlarmCleared, DoorClosed, AlarmCleared]
    assert events[2].after_sensor_problem and "not reporting" in events[2].message
    assert [e.alarm_kind for e in events if isinstance(e, AlarmCleared)] == [TAMPER, HELD_OPEN]
    assert state.active_alarms == ()


def test_a_door_opened_and_closed_during_a_sensor_problem_raises_nothing_more_than_the_problem():
    state, _ = on_contact(closed_door(), "fault", s(0), P)
    _, events = on_contact(state, "closed", s(60), P)
    assert kinds(events) == [DoorSensorRestored, AlarmCleared]


# --- time and events ---------------------------------------------------------------------------


def test_an_input_older_than_the_last_is_taken_as_happening_at_the_last_instant():
    state, _ = on_contact(closed_door(), "open", s(10), P)
    state, events = on_contact(state, "closed", s(5), P)
    assert events[0].at == s(10) and events[0].open_seconds == 0


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        on_contact(closed_door(), "open", datetime(2026, 11, 30, 9, 0), P)


def test_stale_grants_are_forgotten_on_tick():
    state, _ = on_grant(closed_door(), s(0), "20002", policy=P)
    state, _ = tick(state, s(11), P)
    assert state.grants == ()


def test_every_event_is_frozen_and_names_itself_in_the_past_tense():
    state, _ = on_contact(closed_door(), "open", s(0), P)
    _, events = tick(state, s(40), P)
    with pytest.raises(Exception):
        events[0].at = s(0)  # type: ignore[misc]
    assert {e.name for e in events} <= {"door_held_open", "door_held_open_warning"}
    assert raised_kind(events[0]) == HELD_OPEN
    assert raised_kind(AlarmCleared(door_id="D1", at=s(0), alarm_kind=HELD_OPEN, raised_at=s(0), reason="x")) is None


@pytest.mark.parametrize("module", ["doors.py", "access.py"])
def test_the_door_and_access_rules_import_nothing_from_infrastructure_and_read_no_clock(module):
    source = (Path(__file__).parents[2] / "kiosk" / "domain" / module).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"flask", "flask_socketio", "sqlalchemy", "nfc", "serial", "time"}
    assert imported <= {"__future__", "dataclasses", "datetime", "enum", "typing", "kiosk"}
    assert ".now(" not in source and "utcnow" not in source and "today(" not in source
