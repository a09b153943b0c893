"""Roll call rules (§3.1, §3.3, §3.4, §3.5): pure, time passed in, no app."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kiosk.domain.rollcall import (Attendance, BadgeFacts, Outcome, RollCallPolicy, RosterLine, StaffFacts, close,
                                   current_or_next, decide_tap, is_open, pick_for_question)
from kiosk.domain.shifts import ShiftDef, occurrence

TZ = ZoneInfo("Asia/Shanghai")
POLICY = RollCallPolicy()
DAY_SHIFT = ShiftDef("D", "白班", time(9, 30), time(17, 30))
NIGHT = ShiftDef("N", "夜班", time(23, 0), time(8, 0))
OCC = occurrence(DAY_SHIFT, date(2026, 11, 30), TZ)
LI = StaffFacts("20002", "李娜", "operator", True)
ROSTER = {"20002": RosterLine("20002", "李娜", "A-02", "operator"),
          "20001": RosterLine("20001", "王班长", None, "leader")}


def at(hh: int, mm: int, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=TZ)


def badge(status: str = "active", holder: StaffFacts = LI) -> BadgeFacts:
    return BadgeFacts("04000000000002", status, holder)


def test_a_rostered_operator_tapping_before_the_start_is_present_with_name_and_seat():
    d = decide_tap(badge(), OCC, ROSTER, set(), at(9, 10), POLICY)
    assert d.outcome is Outcome.PRESENT and d.outcome.accepted
    assert (d.name, d.seat, d.employee_no) == ("李娜", "A-02", "20002")


def test_a_tap_after_the_start_but_inside_the_window_is_late():
    assert decide_tap(badge(), OCC, ROSTER, set(), at(9, 35), POLICY).outcome is Outcome.LATE


def test_the_window_opens_thirty_minutes_before_and_closes_ten_minutes_after_the_start():
    assert not is_open(OCC, at(8, 59), POLICY)
    assert is_open(OCC, at(9, 0), POLICY)
    assert is_open(OCC, at(9, 39), POLICY)
    assert not is_open(OCC, at(9, 40), POLICY)
    assert decide_tap(badge(), OCC, ROSTER, set(), at(8, 59), POLICY).outcome is Outcome.OUTSIDE_WINDOW
    assert decide_tap(badge(), OCC, ROSTER, set(), at(9, 40), POLICY).outcome is Outcome.OUTSIDE_WINDOW


def test_a_configured_window_is_honoured():
    wide = RollCallPolicy(opens_before=timedelta(minutes=60), closes_after=timedelta(minutes=0))
    assert decide_tap(badge(), OCC, ROSTER, set(), at(8, 45), wide).outcome is Outcome.PRESENT
    assert decide_tap(badge(), OCC, ROSTER, set(), at(9, 30), wide).outcome is Outcome.OUTSIDE_WINDOW


def test_a_second_tap_by_someone_already_present_is_a_duplicate():
    assert decide_tap(badge(), OCC, ROSTER, {"20002"}, at(9, 12), POLICY).outcome is Outcome.DUPLICATE


def test_someone_not_on_this_roster_is_told_which_shift_they_are_on():
    d = decide_tap(badge(), OCC, {}, set(), at(9, 12), POLICY, other_shift="N")
    assert d.outcome is Outcome.NOT_ON_ROSTER and d.detail == {"on_shift": "N"}


def test_an_unknown_badge_is_refused():
    assert decide_tap(None, OCC, ROSTER, set(), at(9, 12), POLICY).outcome is Outcome.UNKNOWN_BADGE


def test_lost_revoked_and_returned_badges_are_refused_citing_the_departure_rule():
    assert decide_tap(badge("lost"), OCC, ROSTER, set(), at(9, 12), POLICY).outcome is Outcome.BADGE_LOST
    assert decide_tap(badge("revoked"), OCC, ROSTER, set(), at(9, 12), POLICY).outcome is Outcome.BADGE_REVOKED
    d = decide_tap(badge("returned"), OCC, ROSTER, set(), at(9, 12), POLICY)
    assert d.outcome is Outcome.BADGE_REVOKED and d.rule == "§2.5"


def test_staff_who_left_are_refused_even_with_an_active_badge():
    gone = StaffFacts("20002", "李娜", "operator", False)
    assert decide_tap(badge("active", gone), OCC, ROSTER, set(), at(9, 12), POLICY).outcome is Outcome.STAFF_LEFT


def test_the_duty_leader_tapping_less_than_ten_minutes_before_start_is_recorded_as_late_for_the_meeting():
    leader = StaffFacts("20001", "王班长", "leader", True)
    early = decide_tap(badge(holder=leader), OCC, ROSTER, set(), at(9, 20), POLICY)
    assert early.outcome is Outcome.PRESENT and not early.leader_late
    late = decide_tap(badge(holder=leader), OCC, ROSTER, set(), at(9, 21), POLICY)
    assert late.outcome is Outcome.PRESENT and late.leader_late and late.rule == "§3.1"


def test_an_operator_is_never_flagged_for_the_leaders_early_rule():
    assert not decide_tap(badge(), OCC, ROSTER, set(), at(9, 29), POLICY).leader_late


def test_a_night_shift_crosses_midnight_and_its_roll_call_opens_the_evening_before():
    occ = occurrence(NIGHT, date(2026, 11, 30), TZ)
    assert occ.ends_at == datetime(2026, 12, 1, 8, 0, tzinfo=TZ)
    found, open_ = current_or_next([DAY_SHIFT, NIGHT], at(22, 40), POLICY, TZ)
    assert open_ and found is not None and found.key == (date(2026, 11, 30), "N")


def test_the_night_shift_started_yesterday_is_still_found_just_after_midnight():
    found, open_ = current_or_next([NIGHT], datetime(2026, 12, 1, 23, 5, tzinfo=TZ) - timedelta(days=1), POLICY, TZ)
    assert open_ and found is not None and found.day == date(2026, 11, 30)


def test_outside_every_window_the_next_roll_call_is_offered_but_not_open():
    found, open_ = current_or_next([DAY_SHIFT, NIGHT], at(12, 0), POLICY, TZ)
    assert not open_ and found is not None and found.shift.code == "N"


def test_the_open_or_next_roll_call_is_what_every_window_says_minute_by_minute_in_any_zone():
    # The answer is worked out from windows remembered per day: it must be what asking each occurrence of
    # yesterday, today and tomorrow gives, at every minute, with times in UTC or local, with short shifts
    # whose windows overlap, and in a zone with daylight saving.
    short = [ShiftDef("E", "早", time(6, 0), time(6, 20)), ShiftDef("F", "早二", time(6, 15), time(14, 0)),
             ShiftDef("N", "夜", time(23, 50), time(7, 0))]
    for tz, shifts in ((TZ, [DAY_SHIFT, NIGHT]), (TZ, short), (ZoneInfo("Europe/Berlin"), short)):
        start = datetime(2026, 3, 28, 0, 0, tzinfo=tz)  # Berlin moves its clocks on the 29th
        for minute in range(0, 3 * 24 * 60, 1):
            now = (start + timedelta(minutes=minute)).astimezone(ZoneInfo("UTC") if minute % 2 else tz)
            occs = [occurrence(s, now.astimezone(tz).date() + timedelta(days=d), tz) for s in shifts for d in (-1, 0, 1)]
            occs.sort(key=lambda o: (o.starts_at, o.shift.code))
            open_now = [o for o in occs if is_open(o, now, POLICY)]
            upcoming = [o for o in occs if o.starts_at - POLICY.opens_before > now]
            expected = (open_now[0], True) if open_now else ((upcoming[0] if upcoming else None), False)
            assert current_or_next(shifts, now, POLICY, tz) == expected, (tz, now)


def test_closing_writes_present_late_excused_and_absent_for_everyone_rostered():
    roster = [RosterLine(n, n, None, "operator") for n in ("a", "b", "c", "d")]
    record = close(roster, {"a": Attendance.PRESENT, "b": Attendance.LATE}, {"c": "病假"})
    assert [(l.employee_no, l.status, l.note) for l in record] == [
        ("a", Attendance.PRESENT, None), ("b", Attendance.LATE, None),
        ("c", Attendance.EXCUSED, "病假"), ("d", Attendance.ABSENT, None)]


def test_the_daily_question_picks_a_present_operator_at_random_and_nobody_when_none_is_present():
    assert pick_for_question([], random.Random(1)) is None
    picks = {pick_for_question(["x", "y", "z"], random.Random(seed)) for seed in range(30)}
    assert picks == {"x", "y", "z"}
