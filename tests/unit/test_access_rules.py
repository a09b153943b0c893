"""Badge checks at a door reader (§2.2, §2.5, §4.4, §6.6): pure, time passed in, no app."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kiosk.domain.access import (AccessDecision, AccessOutcome, AccessPolicy, BadgeFacts, BadgeLockedOut,
                                 BadgeLockout, RecentTap, RosterDuty, StaffFacts, VisitorApproval, VisitorCardFacts,
                                 decide_door_tap, is_locked_out, on_duty, record_decision, validate_approval)
from kiosk.domain.shifts import ShiftDef, occurrence

TZ = ZoneInfo("Asia/Shanghai")
POLICY = AccessPolicy()
DAY = ShiftDef("D", "白班", time(9, 30), time(17, 30))
NIGHT = ShiftDef("N", "夜班", time(23, 0), time(8, 0))
D30 = occurrence(DAY, date(2026, 11, 30), TZ)
N30 = occurrence(NIGHT, date(2026, 11, 30), TZ)
LI = StaffFacts("20002", "李娜", "operator", True)
UID = "04A1B2C3D4E5F6"
DOOR = "call-area"


def at(hh: int, mm: int, day: int = 30, ss: int = 0) -> datetime:
    if day > 30:
        return datetime(2026, 12, day - 30, hh, mm, ss, tzinfo=TZ)
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=TZ)


def badge(status: str = "active", holder: StaffFacts = LI) -> BadgeFacts:
    return BadgeFacts(UID, status, holder)


def staff_tap(now: datetime, *, holder: StaffFacts = LI, status: str = "active", duties=(RosterDuty(D30),),
              marks=None, lockout: BadgeLockout = BadgeLockout(), policy: AccessPolicy = POLICY) -> AccessDecision:
    return decide_door_tap(door_id=DOOR, uid=UID, now=now, policy=policy, badge=badge(status, holder),
                           duties=duties, marks=marks if marks is not None else {D30.key: "present"},
                           lockout=lockout)


def approval(**changes) -> VisitorApproval:
    values = dict(name="Zhang Wei", organisation="City Daily", purpose="visit", valid_from=at(10, 0),
                  valid_until=at(12, 0), escort_required=False, host_employee_no="20009", id_doc_tail="123X")
    values.update(changes)
    return VisitorApproval(**values)


def visitor_tap(now: datetime, appr: VisitorApproval | None = None, *, taps=(), status: str = "active",
                lockout: BadgeLockout = BadgeLockout()) -> AccessDecision:
    card = VisitorCardFacts("0499887766", appr if appr is not None else approval(), status)
    return decide_door_tap(door_id=DOOR, uid=card.uid, now=now, policy=POLICY, visitor=card, recent_taps=taps,
                           lockout=lockout)


# --- staff badges ------------------------------------------------------------------------------


def test_a_roll_called_operator_on_duty_is_granted_with_name_shift_and_rule():
    d = staff_tap(at(9, 25))
    assert d.granted and d.outcome is AccessOutcome.GRANTED
    assert (d.employee_no, d.name, d.shift_code, d.shift_day, d.rule) == ("20002", "李娜", "D", date(2026, 11, 30),
                                                                          "§4.4")
    assert "roll-called" in d.reason_text
    assert (d.grant_kind, d.who) == ("badge", "20002")


def test_an_operator_marked_late_or_by_hand_passes_during_the_running_shift():
    assert staff_tap(at(13, 0), marks={D30.key: "late"}).granted
    assert staff_tap(at(13, 0), marks={D30.key: "present"}).granted  # a manual mark is stored as present


def test_an_unknown_card_is_refused_with_a_masked_uid():
    d = decide_door_tap(door_id=DOOR, uid=UID, now=at(9, 0), policy=POLICY)
    assert d.outcome is AccessOutcome.UNKNOWN_BADGE and not d.granted
    assert UID not in d.reason_text and "…E5F6" in d.reason_text and d.rule == "§6.6"


@pytest.mark.parametrize("status, outcome", [("lost", AccessOutcome.BADGE_LOST),
                                             ("revoked", AccessOutcome.BADGE_REVOKED),
                                             ("returned", AccessOutcome.BADGE_REVOKED)])
def test_lost_revoked_and_returned_badges_are_refused_citing_the_departure_rule(status, outcome):
    d = staff_tap(at(9, 25), status=status)
    assert d.outcome is outcome and d.rule == "§2.5" and d.name == "李娜"


def test_staff_who_left_are_refused_even_with_an_active_badge():
    gone = StaffFacts("20002", "李娜", "operator", False)
    d = staff_tap(at(9, 25), holder=gone)
    assert d.outcome is AccessOutcome.STAFF_LEFT and d.rule == "§2.5" and "has left" in d.reason_text


@pytest.mark.parametrize("role", ["leader", "supervisor", "security", "admin"])
def test_leaders_supervisors_security_and_admins_pass_at_any_time_without_a_roster(role):
    boss = StaffFacts("10001", "王主管", role, True)
    d = staff_tap(at(3, 0), holder=boss, duties=(), marks={})
    assert d.granted and d.rule == "§6.6" and "any time" in d.reason_text


@pytest.mark.parametrize("status", ["lost", "revoked", "returned"])
def test_a_leaders_dead_badge_is_still_refused(status):
    boss = StaffFacts("10001", "王主管", "supervisor", True)
    assert not staff_tap(at(10, 0), holder=boss, status=status).granted
    assert staff_tap(at(10, 0), holder=StaffFacts("10001", "王主管", "supervisor", False)).outcome \
        is AccessOutcome.STAFF_LEFT


# --- on duty: the roster window ------------------------------------------------------------------


def test_the_duty_window_runs_from_sixty_minutes_before_start_to_thirty_after_end():
    marks = {D30.key: "present"}
    assert staff_tap(at(8, 29), marks=marks).outcome is AccessOutcome.NOT_ON_DUTY
    assert staff_tap(at(8, 30), marks=marks).granted
    assert staff_tap(at(18, 0), marks=marks).granted
    d = staff_tap(at(18, 0, ss=1), marks=marks)
    assert d.outcome is AccessOutcome.NOT_ON_DUTY and d.rule == "§6.6" and "not on duty" in d.reason_text


def test_an_operator_with_no_roster_at_all_is_not_on_duty():
    assert staff_tap(at(10, 0), duties=(), marks={}).outcome is AccessOutcome.NOT_ON_DUTY


def test_a_refusal_for_not_being_on_duty_names_the_next_shift():
    d01 = occurrence(DAY, date(2026, 12, 1), TZ)
    d = staff_tap(at(20, 0), duties=(RosterDuty(D30), RosterDuty(d01)))
    assert d.outcome is AccessOutcome.NOT_ON_DUTY and "2026-12-01 09:30" in d.reason_text


def test_the_duty_window_is_configurable():
    narrow = AccessPolicy(before_start=timedelta(minutes=15), after_end=timedelta(0))
    assert staff_tap(at(9, 0), policy=narrow).outcome is AccessOutcome.NOT_ON_DUTY
    assert staff_tap(at(9, 15), policy=narrow).granted
    assert staff_tap(at(17, 31), policy=narrow).outcome is AccessOutcome.NOT_ON_DUTY


def test_a_night_shift_operator_is_on_duty_from_the_evening_before_across_midnight():
    night = (RosterDuty(N30),)
    marks = {N30.key: "present"}
    assert staff_tap(at(21, 59), duties=night, marks=marks).outcome is AccessOutcome.NOT_ON_DUTY
    assert staff_tap(at(22, 0), duties=night, marks=marks).granted
    assert staff_tap(at(0, 30, day=31), duties=night, marks=marks).granted
    assert staff_tap(at(8, 30, day=31), duties=night, marks=marks).granted
    assert staff_tap(at(8, 31, day=31), duties=night, marks=marks).outcome is AccessOutcome.NOT_ON_DUTY


def test_after_midnight_the_night_shift_is_the_one_rostered_the_day_before():
    d = staff_tap(at(2, 0, day=31), duties=(RosterDuty(N30),), marks={N30.key: "late"})
    assert d.granted and d.shift_day == date(2026, 11, 30) and d.shift_code == "N"


def test_a_day_shift_operator_at_night_is_not_on_duty():
    assert staff_tap(at(2, 0, day=31)).outcome is AccessOutcome.NOT_ON_DUTY


def test_on_duty_lists_only_the_occurrences_whose_window_holds_now():
    duties = [RosterDuty(N30), RosterDuty(D30)]
    assert [d.occurrence for d in on_duty(duties, at(10, 0), POLICY)] == [D30]
    assert on_duty(duties, at(20, 0), POLICY) == []


# --- §4.4: roll call before entry ----------------------------------------------------------------


def test_an_incoming_operator_who_has_not_tapped_at_open_roll_call_is_refused():
    d = staff_tap(at(9, 10), marks={})
    assert d.outcome is AccessOutcome.NOT_ROLL_CALLED and d.rule == "§4.4"
    assert d.shift_code == "D" and "roll call kiosk" in d.reason_text


def test_before_roll_call_opens_the_refusal_says_when_it_opens():
    d = staff_tap(at(8, 45), marks={})
    assert d.outcome is AccessOutcome.NOT_ROLL_CALLED and "opens at 09:00" in d.reason_text
    assert d.detail["roll_call_opens"] == at(9, 0).isoformat()


def test_after_roll_call_has_closed_an_unmarked_operator_is_sent_to_the_duty_leader():
    d = staff_tap(at(11, 0), marks={})
    assert d.outcome is AccessOutcome.NOT_ROLL_CALLED and "ask the duty leader" in d.reason_text


@pytest.mark.parametrize("mark", ["absent", "excused"])
def test_an_operator_marked_absent_or_excused_is_not_let_in(mark):
    assert staff_tap(at(11, 0), marks={D30.key: mark}).outcome is AccessOutcome.NOT_ROLL_CALLED


def test_a_mark_for_another_shift_does_not_count():
    n29 = occurrence(NIGHT, date(2026, 11, 29), TZ)
    assert staff_tap(at(9, 20), marks={n29.key: "present"}).outcome is AccessOutcome.NOT_ROLL_CALLED


def test_an_operator_on_duty_for_two_shifts_passes_if_either_is_roll_called():
    early = ShiftDef("E", "早班", time(7, 0), time(9, 30))
    e30 = occurrence(early, date(2026, 11, 30), TZ)
    duties = (RosterDuty(e30), RosterDuty(D30))
    assert staff_tap(at(9, 20), duties=duties, marks={e30.key: "present"}).granted
    d = staff_tap(at(9, 20), duties=duties, marks={})
    assert d.outcome is AccessOutcome.NOT_ROLL_CALLED and d.shift_code == "D"  # the one whose roll call is open


def test_an_acting_duty_leader_passes_while_on_duty_without_a_roll_call_mark():
    d = staff_tap(at(9, 0), duties=(RosterDuty(D30, "leader"),), marks={})
    assert d.granted and "duty leader" in d.reason_text


def test_an_acting_duty_leader_off_duty_is_refused():
    assert staff_tap(at(20, 0), duties=(RosterDuty(D30, "leader"),)).outcome is AccessOutcome.NOT_ON_DUTY


# --- visitors (§2.2, §6.6) -----------------------------------------------------------------------


def test_an_approved_visitor_inside_the_window_is_granted():
    d = visitor_tap(at(10, 30))
    assert d.granted and d.rule == "§2.2" and d.visitor_name == "Zhang Wei" and d.organisation == "City Daily"
    assert (d.grant_kind, d.who) == ("visitor", "Zhang Wei")


@pytest.mark.parametrize("now", [at(9, 59), at(12, 0), at(15, 0)])
def test_a_visitor_outside_the_approved_window_is_refused(now):
    d = visitor_tap(now)
    assert d.outcome is AccessOutcome.VISITOR_OUTSIDE_WINDOW and d.rule == "§2.2"
    assert "2026-11-30 10:00 to 2026-11-30 12:00" in d.reason_text


def test_a_visitor_card_with_no_approval_attached_is_outside_any_window():
    card = VisitorCardFacts("0499887766", None)
    d = decide_door_tap(door_id=DOOR, uid=card.uid, now=at(10, 30), policy=POLICY, visitor=card)
    assert d.outcome is AccessOutcome.VISITOR_OUTSIDE_WINDOW and "Hotline Management Section" in d.reason_text


@pytest.mark.parametrize("status, outcome", [("lost", AccessOutcome.BADGE_LOST),
                                             ("returned", AccessOutcome.BADGE_REVOKED)])
def test_a_lost_or_returned_visitor_card_is_refused(status, outcome):
    assert visitor_tap(at(10, 30), status=status).outcome is outcome


def test_a_visitor_who_needs_an_escort_is_refused_without_one():
    d = visitor_tap(at(10, 30), approval(escort_required=True))
    assert d.outcome is AccessOutcome.VISITOR_NEEDS_ESCORT and d.rule == "§6.6" and "escorted" in d.reason_text


@pytest.mark.parametrize("role", ["leader", "supervisor", "security", "admin"])
def test_an_escort_tap_by_a_leader_at_the_same_door_within_thirty_seconds_lets_the_visitor_in(role):
    tap = RecentTap(at(10, 29, ss=30), DOOR, "10001", role)
    d = visitor_tap(at(10, 30), approval(escort_required=True), taps=[tap])
    assert d.granted and d.escorted_by == "10001" and "escorted by 10001" in d.reason_text


def test_the_host_may_escort_even_as_an_operator():
    tap = RecentTap(at(10, 29, ss=50), DOOR, "20009", "operator")
    assert visitor_tap(at(10, 30), approval(escort_required=True), taps=[tap]).granted


@pytest.mark.parametrize("tap", [
    RecentTap(at(10, 29, ss=29), DOOR, "10001", "leader"),  # 31 s before
    RecentTap(at(10, 29, ss=50), "store-room", "10001", "leader"),  # another door
    RecentTap(at(10, 29, ss=50), DOOR, "20003", "operator"),  # not the host, not an escort role
    RecentTap(at(10, 29, ss=50), DOOR, "10001", "leader", granted=False),  # the escort was refused
    RecentTap(at(10, 30, ss=5), DOOR, "10001", "leader"),  # after the visitor
])
def test_escort_taps_that_do_not_count(tap):
    d = visitor_tap(at(10, 30), approval(escort_required=True), taps=[tap])
    assert d.outcome is AccessOutcome.VISITOR_NEEDS_ESCORT


def test_an_escort_tap_exactly_thirty_seconds_before_counts():
    tap = RecentTap(at(10, 29, ss=30), DOOR, "10001", "security")
    assert visitor_tap(at(10, 30), approval(escort_required=True), taps=[tap]).granted


# --- lockout -------------------------------------------------------------------------------------


def refuse(lockout: BadgeLockout, now: datetime, policy: AccessPolicy = POLICY):
    d = staff_tap(now, duties=(), marks={}, lockout=lockout, policy=policy)
    return d, *record_decision(lockout, d, policy)


def test_five_refusals_within_an_hour_lock_the_badge_for_the_rest_of_that_hour_once():
    lock = BadgeLockout()
    for minute in (0, 10, 20, 30):
        d, lock, events = refuse(lock, at(3, minute))
        assert d.outcome is AccessOutcome.NOT_ON_DUTY and events == [] and not is_locked_out(lock, at(3, minute))
    d, lock, events = refuse(lock, at(3, 40))
    assert d.outcome is AccessOutcome.NOT_ON_DUTY
    assert len(events) == 1 and isinstance(events[0], BadgeLockedOut)
    locked = events[0]
    assert locked.locked_until == at(4, 0) and locked.refusals == 5 and locked.uid == UID
    assert UID not in locked.message and "…E5F6" in locked.message and locked.employee_no == "20002"
    d, lock2, events = refuse(lock, at(3, 45))
    assert d.outcome is AccessOutcome.LOCKED_OUT and d.rule == "§6.6" and events == [] and lock2 == lock
    assert "locked until 04:00" in d.reason_text and d.detail["locked_until"] == at(4, 0).isoformat()


def test_a_locked_out_badge_is_refused_even_when_it_would_otherwise_pass():
    lock = BadgeLockout(locked_until=at(9, 30))
    assert staff_tap(at(9, 20), lockout=lock).outcome is AccessOutcome.LOCKED_OUT


def test_the_lock_ends_with_the_hour_and_the_count_starts_afresh():
    lock = BadgeLockout(locked_until=at(4, 0))
    d, lock, events = refuse(lock, at(4, 0))
    assert d.outcome is AccessOutcome.NOT_ON_DUTY and lock == BadgeLockout(refusals=(at(4, 0),)) and events == []


def test_refusals_older_than_the_window_are_not_counted():
    lock = BadgeLockout()
    for minute in (0, 10, 20, 30):
        _, lock, _ = refuse(lock, at(3, minute))
    _, lock, events = refuse(lock, at(4, 0))  # the 03:00 refusal is an hour old: four counted
    assert events == [] and len(lock.refusals) == 4
    _, lock, events = refuse(lock, at(4, 5))
    assert events and events[0].locked_until == at(4, 10)  # the first counted refusal was at 03:10


def test_grants_do_not_count_towards_a_lockout():
    lock = BadgeLockout(refusals=(at(9, 0),) * 4)
    d = staff_tap(at(9, 20), lockout=lock)
    assert d.granted and record_decision(lock, d, POLICY) == (lock, [])


def test_the_lockout_threshold_and_window_are_configurable():
    strict = AccessPolicy(lockout_after=2, lockout_window=timedelta(minutes=10))
    _, lock, _ = refuse(BadgeLockout(), at(3, 0), strict)
    _, lock, events = refuse(lock, at(3, 5), strict)
    assert events and events[0].locked_until == at(3, 10)


def test_privileged_staff_are_not_held_by_a_lockout():
    boss = StaffFacts("10001", "王主管", "security", True)
    assert staff_tap(at(3, 0), holder=boss, lockout=BadgeLockout(locked_until=at(4, 0))).granted


def test_a_locked_out_visitor_card_is_refused():
    d = visitor_tap(at(10, 30), lockout=BadgeLockout(locked_until=at(11, 0)))
    assert d.outcome is AccessOutcome.LOCKED_OUT


# --- every decision explains itself --------------------------------------------------------------


def test_every_outcome_carries_an_english_reason_and_a_rule():
    gone = StaffFacts("20002", "李娜", "operator", False)
    decisions = [
        staff_tap(at(9, 25)),
        decide_door_tap(door_id=DOOR, uid=UID, now=at(9, 0), policy=POLICY),
        staff_tap(at(9, 25), status="lost"), staff_tap(at(9, 25), status="revoked"),
        staff_tap(at(9, 25), holder=gone), staff_tap(at(3, 0)), staff_tap(at(9, 20), marks={}),
        visitor_tap(at(9, 0)), visitor_tap(at(10, 30), approval(escort_required=True)),
        staff_tap(at(9, 25), lockout=BadgeLockout(locked_until=at(10, 0))),
    ]
    assert {d.outcome for d in decisions} == set(AccessOutcome)
    for d in decisions:
        assert d.reason_text.startswith(("Granted", "Refused")) and d.reason_text.endswith(".")
        assert d.rule in ("§2.2", "§2.5", "§4.4", "§6.6") and d.door_id == DOOR and d.at.tzinfo is not None


def test_a_card_cannot_be_both_a_badge_and_a_visitor_card():
    with pytest.raises(ValueError):
        decide_door_tap(door_id=DOOR, uid=UID, now=at(9, 0), policy=POLICY, badge=badge(),
                        visitor=VisitorCardFacts(UID, approval()))


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError):
        decide_door_tap(door_id=DOOR, uid=UID, now=datetime(2026, 11, 30, 9, 0), policy=POLICY)


def test_reason_times_follow_the_time_zone_now_is_given_in():
    d = visitor_tap(at(9, 0).astimezone(timezone.utc))
    assert "2026-11-30 02:00 to 2026-11-30 04:00" in d.reason_text


# --- visitor approvals ---------------------------------------------------------------------------


def test_a_complete_approval_has_no_errors():
    assert validate_approval(approval()) == []


@pytest.mark.parametrize("purpose", ["consult", "visit", "photograph", "record"])
def test_the_four_purposes_of_section_two_two_are_accepted(purpose):
    assert validate_approval(approval(purpose=purpose)) == []


def test_a_purpose_outside_the_rule_is_refused():
    (error,) = validate_approval(approval(purpose="inspect"))
    assert "'inspect'" in error and "consult, visit, photograph, record" in error


@pytest.mark.parametrize("until", [at(9, 0), at(10, 0)])
def test_an_approval_that_ends_before_or_when_it_starts_is_refused(until):
    assert validate_approval(approval(valid_until=until)) == ["The approval must end after it starts."]


def test_an_approval_without_time_zones_is_refused():
    assert validate_approval(approval(valid_from=datetime(2026, 11, 30, 10, 0))) == [
        "The approval's start and end need a time zone."]


@pytest.mark.parametrize("tail", ["", "123", "1234X", "11010519900307123X", "12 4", "１２３４"])
def test_the_id_document_tail_must_be_exactly_the_last_four_characters_never_more(tail):
    (error,) = validate_approval(approval(id_doc_tail=tail))
    assert "exactly the last 4 characters" in error


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_an_approval_for_nobody_is_refused(name):
    assert validate_approval(approval(name=name)) == ["The visitor's name is empty."]


def test_all_problems_are_reported_at_once():
    assert len(validate_approval(approval(name="", purpose="x", valid_until=at(9, 0), id_doc_tail="1"))) == 4
