"""Floor map rules (§3.6, §4.5, §7.3, §7.7, §8.7, §8.8, §8.9): pure, time passed in, no app, no sleep."""

from __future__ import annotations

import ast
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.domain import floor as f
from kiosk.domain.floor import (AgentLive, AgentStateEvent, Assignment, FloorFacts, FloorPolicy, Mark, Refusal,
                                SeatFacts, apply_event, check_signout, compute_flags, parse_state, split_by_local_day)

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)
NEXT = DAY + timedelta(days=1)
P = FloorPolicy()


def L(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """A local wall-clock time on a day, as an aware instant."""
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=TZ)


def day_shift(emp: str, seat: str | None, duty: str = "operator", day: date = DAY, name: str = "") -> Assignment:
    """Day shift D, 09:30–17:30."""
    return Assignment(emp, name or emp, seat, duty, "D", day, L(day, 9, 30), L(day, 17, 30))


def night_shift(emp: str, seat: str | None, day: date = DAY) -> Assignment:
    """Night shift N, 23:00 on ``day`` to 08:00 the next morning."""
    return Assignment(emp, emp, seat, "operator", "N", day, L(day, 23, 0), L(day + timedelta(days=1), 8, 0))


def signed(emp: str, seat: str, at: datetime, state: str = "ready", **kw) -> AgentLive:
    """An agent signed in at ``at`` and in ``state`` since then."""
    return AgentLive(emp, seat, state, kw.pop("since", at), kw.pop("last_at", at), signed_in_at=at, seat_since=at,
                     **kw)


def facts(**kw) -> FloorFacts:
    """Facts on a few seats without sensors, unless the test gives its own."""
    kw.setdefault("seats", {s: SeatFacts(s, "A", 0.0, 0.0) for s in ("A-01", "A-02", "A-03", "A-07")})
    return FloorFacts(tz=TZ, **kw)


def seat(sid: str, sensor: str | None) -> SeatFacts:
    return SeatFacts(sid, "A", 0.0, 0.0, sensor)


def kinds(flags) -> list[str]:
    return sorted(x.kind for x in flags)


def ev(emp: str, state: str, at: datetime, seat: str | None = "A-02", reason: str = "") -> AgentStateEvent:
    return AgentStateEvent(emp, seat, state, at.astimezone(timezone.utc), reason)


# --- agent states ------------------------------------------------------------------------------------------

def test_a_sign_in_starts_a_session_at_the_seat():
    t = apply_event(None, ev("20002", "signed_in", L(DAY, 9, 20)))
    assert t.applied and t.live.active and t.live.seat == "A-02"
    assert t.live.signed_in_at == t.live.since == t.live.seat_since == L(DAY, 9, 20)


def test_an_older_state_is_stored_but_does_not_rewind_the_live_state():
    live = apply_event(None, ev("20002", "busy", L(DAY, 10, 5))).live
    t = apply_event(live, ev("20002", "ready", L(DAY, 10, 3)))
    assert not t.applied and t.live == live


def test_the_same_state_again_keeps_when_it_began():
    live = apply_event(None, ev("20002", "busy", L(DAY, 10, 0))).live
    t = apply_event(live, ev("20002", "busy", L(DAY, 10, 2)))
    assert t.live.since == L(DAY, 10, 0) and t.live.last_at == L(DAY, 10, 2) and t.closed is None


def test_leaving_busy_closes_the_interval_for_the_day_count():
    live = apply_event(None, ev("20002", "busy", L(DAY, 10, 0))).live
    t = apply_event(live, ev("20002", "ready", L(DAY, 10, 7)))
    assert t.closed == f.Interval("busy", L(DAY, 10, 0), L(DAY, 10, 7).astimezone(timezone.utc))


def test_a_state_from_another_seat_while_signed_in_remembers_the_first_seat():
    live = apply_event(None, ev("20002", "ready", L(DAY, 9, 20), seat="A-02")).live
    t = apply_event(live, ev("20002", "signed_in", L(DAY, 9, 40), seat="A-05"))
    assert t.live.seat == "A-05" and t.live.other_seat == "A-02" and t.live.signed_in_at == L(DAY, 9, 20)
    out = apply_event(t.live, ev("20002", "signed_out", L(DAY, 10, 0), seat=None)).live
    assert out.other_seat is None and out.seat == "A-05" and not out.active


# --- validation --------------------------------------------------------------------------------------------

STAFF = {"20002": "李娜"}
SEATS = {"A-02", "A-03"}
NOW = L(DAY, 10, 0).astimezone(timezone.utc)


def parse(**item):
    base = {"employee_no": "20002", "seat": "A-02", "state": "ready", "at": "2026-11-30T10:00:00+08:00"}
    base.update(item)
    return parse_state({k: v for k, v in base.items() if v is not ...}, STAFF, SEATS, NOW, P)


def test_a_valid_state_is_parsed_with_its_time_in_utc():
    got = parse()
    assert isinstance(got, AgentStateEvent) and got.at == NOW and got.at.tzinfo == timezone.utc


@pytest.mark.parametrize("item, code, words", [
    ({"state": "lunch"}, "unknown_state", "'lunch' is not one of"),
    ({"employee_no": "99999"}, "unknown_employee", "'99999'"),
    ({"seat": "Z-99"}, "unknown_seat", "'Z-99'"),
    ({"at": "2026-11-30T10:02:01+08:00"}, "future_time", "121 s ahead"),
    ({"at": "2026-11-30T10:00:00"}, "bad_time", "no time zone"),
    ({"at": "yesterday"}, "bad_time", "not an ISO-8601"),
    ({"seat": ...}, "missing_seat", "'seat' is required"),
    ({"employee_no": 20002}, "missing_employee_no", "string"),
    ({"reason": 5}, "malformed_reason", "string"),
])
def test_a_bad_state_is_refused_with_a_code_and_a_message_naming_what_is_wrong(item, code, words):
    got = parse(**item)
    assert isinstance(got, Refusal) and got.code == code and words in got.message


def test_a_state_a_little_in_the_future_is_within_the_clock_skew_allowance():
    assert isinstance(parse(at="2026-11-30T10:01:59+08:00"), AgentStateEvent)


def test_a_sign_out_may_leave_out_the_seat():
    assert isinstance(parse(state="signed_out", seat=...), AgentStateEvent)


def test_something_other_than_an_object_is_refused():
    assert parse_state(["20002"], STAFF, SEATS, NOW, P) == Refusal("malformed_state",
                                                                   "each agent state must be a JSON object")


# --- busy and wrap-up time per local day (§8.8) -----------------------------------------------------------

def test_busy_time_across_local_midnight_is_split_between_the_two_days():
    parts = split_by_local_day(L(DAY, 23, 40), L(NEXT, 0, 20), TZ)
    assert parts == [(DAY, 1200.0), (NEXT, 1200.0)]


ZONES = st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "Pacific/Chatham"])
INSTANTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=timezone.utc))


@settings(max_examples=300, deadline=None)
@given(zone=ZONES, start=INSTANTS, length=st.floats(min_value=0, max_value=4 * 86400))
def test_the_split_accounts_for_every_second_once_on_consecutive_local_days(zone, start, length):
    tz = ZoneInfo(zone)
    end = start + timedelta(seconds=length)
    parts = split_by_local_day(start, end, tz)
    assert sum(s for _d, s in parts) == pytest.approx((end - start).total_seconds(), abs=1e-3)
    days = [d for d, _s in parts]
    assert days == sorted(days) and all(b - a == timedelta(days=1) for a, b in zip(days, days[1:]))
    if parts:
        assert days[0] == start.astimezone(tz).date()
        assert all(0 < s <= 25 * 3600 for _d, s in parts)


@settings(max_examples=200, deadline=None)
@given(zone=ZONES, start=INSTANTS, length=st.floats(min_value=1, max_value=2 * 86400),
       cut=st.floats(min_value=0, max_value=1))
def test_counting_an_interval_in_two_pieces_gives_the_same_day_totals(zone, start, length, cut):
    tz = ZoneInfo(zone)
    end = start + timedelta(seconds=length)
    mid = start + (end - start) * cut
    whole = f.add_interval({}, f.Interval("busy", start, end), tz)
    pieces = f.add_interval(f.add_interval({}, f.Interval("busy", start, mid), tz), f.Interval("busy", mid, end), tz)
    assert whole.keys() <= pieces.keys()
    for day, (busy, wrap) in pieces.items():
        assert busy == pytest.approx(whole.get(day, (0.0, 0.0))[0], abs=1e-3) and wrap == 0


def allowance(busy_closed: float = 0, wrap_closed: float = 0, live: AgentLive | None = None,
              now: datetime = L(DAY, 12, 0), day: date = DAY):
    fx = facts(seconds={("20002", day): (busy_closed, wrap_closed)}, agents={"20002": live} if live else {})
    return [x for x in compute_flags(fx, now, P) if x.rule == "§8.8"]


def test_busy_time_warns_at_thirty_minutes_and_alerts_at_forty_each_citing_8_8():
    assert allowance(busy_closed=30 * 60 - 1) == []
    (warn,) = allowance(busy_closed=30 * 60)
    assert (warn.kind, warn.severity, warn.rule) == ("busy_allowance_warning", "warning", "§8.8")
    (alert,) = allowance(busy_closed=40 * 60)
    assert (alert.kind, alert.severity) == ("busy_allowance_reached", "alarm")


def test_wrap_up_time_is_counted_separately_from_busy_time():
    assert kinds(allowance(busy_closed=25 * 60, wrap_closed=25 * 60)) == []
    assert kinds(allowance(busy_closed=25 * 60, wrap_closed=41 * 60)) == ["wrap_up_allowance_reached"]


def test_the_open_busy_interval_counts_and_the_flag_says_when_the_threshold_was_crossed():
    live = signed("20002", "A-02", L(DAY, 9, 30), state="busy", since=L(DAY, 11, 40))
    (warn,) = allowance(busy_closed=15 * 60, live=live, now=L(DAY, 12, 0))  # 15 + 20 = 35 min
    assert warn.kind == "busy_allowance_warning" and warn.since == L(DAY, 11, 55)


def test_a_night_shift_counts_busy_time_on_the_day_it_falls_in():
    live = signed("20007", "A-07", L(DAY, 23, 0), state="busy", since=L(DAY, 23, 40))
    fx = facts(seconds={("20007", DAY): (15 * 60, 0.0)}, agents={"20007": live})
    # 23:59:59: 15 min earlier plus almost 20 min now: the warning, for the 30th.
    (warn,) = [x for x in compute_flags(fx, L(DAY, 23, 59, 59), P) if x.rule == "§8.8"]
    assert warn.detail["day"] == "2026-11-30"
    # 00:20 on the 1st: the new day has only the 20 minutes after midnight.
    assert [x for x in compute_flags(fx, L(NEXT, 0, 20), P) if x.rule == "§8.8"] == []
    assert f.day_seconds((0, 0), live, NEXT, L(NEXT, 0, 20), TZ) == (1200.0, 0.0)


# --- wrong seat (§8.7) -------------------------------------------------------------------------------------

def test_an_operator_signed_in_at_another_seat_than_assigned_is_flagged_citing_8_7():
    fx = facts(assignments=[day_shift("20002", "A-02")], agents={"20002": signed("20002", "A-03", L(DAY, 9, 25))})
    (flag,) = compute_flags(fx, L(DAY, 9, 40), P)
    assert (flag.kind, flag.rule, flag.seat, flag.detail["assigned_seat"]) == ("wrong_seat", "§8.7", "A-03", "A-02")
    assert flag.since == L(DAY, 9, 25)


def test_signed_in_at_the_assigned_seat_or_as_a_leader_without_a_seat_is_not_a_wrong_seat():
    fx = facts(assignments=[day_shift("20002", "A-02"), day_shift("20001", None, duty="leader")],
               agents={"20002": signed("20002", "A-02", L(DAY, 9, 25)),
                       "20001": signed("20001", "A-01", L(DAY, 9, 25))})
    assert "wrong_seat" not in kinds(compute_flags(fx, L(DAY, 9, 40), P))


def test_after_midnight_a_night_operator_is_held_to_the_seat_of_the_night_shift_rostered_the_day_before():
    fx = facts(assignments=[night_shift("20007", "A-07"), day_shift("20007", "A-01", day=NEXT)],
               agents={"20007": signed("20007", "A-01", L(DAY, 22, 50))})
    (flag,) = compute_flags(fx, L(NEXT, 2, 0), P)
    assert flag.kind == "wrong_seat" and flag.detail["assigned_seat"] == "A-07" and flag.detail["shift"] == "N"


# --- not signed in (§3.6, §4.5) ----------------------------------------------------------------------------

def test_an_operator_who_entered_and_has_not_signed_in_is_flagged_after_five_minutes():
    fx = facts(assignments=[day_shift("20002", "A-02")], entries={"20002": L(DAY, 9, 20)})
    assert compute_flags(fx, L(DAY, 9, 24, 59), P) == []
    (flag,) = compute_flags(fx, L(DAY, 9, 25), P)
    assert (flag.kind, flag.rule, flag.since, flag.seat) == ("not_signed_in", "§3.6, §4.5", L(DAY, 9, 20), "A-02")
    assert flag.detail["reason"] == "entered"


def test_a_roll_called_operator_not_seen_at_a_door_counts_from_the_shift_start():
    fx = facts(assignments=[day_shift("20002", "A-02")], marks={("20002", DAY, "D"): Mark("present", L(DAY, 9, 5))})
    assert compute_flags(fx, L(DAY, 9, 34), P) == []
    (flag,) = compute_flags(fx, L(DAY, 9, 35), P)
    assert flag.kind == "not_signed_in" and flag.detail["reason"] == "roll_called"


def test_a_signed_in_operator_or_one_who_signed_in_and_out_since_is_not_flagged_as_not_signed_in():
    a = [day_shift("20002", "A-02")]
    entered = {"20002": L(DAY, 9, 20)}
    fx = facts(assignments=a, entries=entered, agents={"20002": signed("20002", "A-02", L(DAY, 9, 22))})
    assert compute_flags(fx, L(DAY, 10, 0), P) == []
    out = AgentLive("20002", "A-02", "signed_out", L(DAY, 9, 50), L(DAY, 9, 50), signed_in_at=L(DAY, 9, 22))
    fx = facts(assignments=a, entries=entered, agents={"20002": out})
    assert compute_flags(fx, L(DAY, 10, 0), P) == []


def test_a_sign_in_left_over_from_yesterday_does_not_count():
    old = AgentLive("20002", "A-02", "signed_out", L(DAY, 8, 0), L(DAY, 8, 0), signed_in_at=L(DAY, 7, 0))
    fx = facts(assignments=[day_shift("20002", "A-02")], entries={"20002": L(DAY, 9, 20)}, agents={"20002": old})
    assert kinds(compute_flags(fx, L(DAY, 9, 30), P)) == ["not_signed_in"]


def test_a_night_operator_who_entered_before_midnight_is_flagged_after_it():
    fx = facts(assignments=[night_shift("20007", "A-07")], entries={"20007": L(DAY, 23, 58)})
    (flag,) = compute_flags(fx, L(NEXT, 0, 3), P)
    assert flag.kind == "not_signed_in" and flag.detail["shift"] == "N"


def test_nobody_is_flagged_as_not_signed_in_before_entering_or_answering_roll_call():
    fx = facts(assignments=[day_shift("20002", "A-02")], entries={"20002": L(DAY, 7, 0)})  # a grant long before
    assert compute_flags(fx, L(DAY, 10, 0), P) == []


# --- employee-number misuse (§7.7) -------------------------------------------------------------------------

def misuse(fx: FloorFacts, now: datetime) -> list[str]:
    return sorted(x.detail["reason"] for x in compute_flags(fx, now, P) if x.kind == "employee_no_misuse")


def test_a_sign_in_under_the_number_of_someone_absent_at_roll_call_is_an_alarm_citing_7_7():
    fx = facts(assignments=[day_shift("20003", "A-03")], marks={("20003", DAY, "D"): Mark("absent", None)},
               agents={"20003": signed("20003", "A-03", L(DAY, 9, 45))})
    (flag,) = [x for x in compute_flags(fx, L(DAY, 9, 50), P) if x.kind == "employee_no_misuse"]
    assert (flag.rule, flag.severity, flag.detail["reason"]) == ("§7.7", "alarm", "absent_at_roll_call")


def test_where_doors_have_readers_a_sign_in_without_an_entry_is_flagged_once_the_skew_allowance_passed():
    base = dict(assignments=[day_shift("20002", "A-02")], agents={"20002": signed("20002", "A-02", L(DAY, 9, 25))})
    assert misuse(facts(**base, door_check=True), L(DAY, 9, 26)) == []
    assert misuse(facts(**base, door_check=True), L(DAY, 9, 27)) == ["not_entered"]
    assert misuse(facts(**base, door_check=True, entries={"20002": L(DAY, 9, 10)}), L(DAY, 9, 40)) == []
    assert misuse(facts(**base, door_check=False), L(DAY, 9, 40)) == []
    # A grant from before this shift's roll call opened says nothing about today.
    assert misuse(facts(**base, door_check=True, entries={"20002": L(DAY, 8, 0)}), L(DAY, 9, 40)) == ["not_entered"]


def test_a_number_still_signed_in_at_another_seat_is_flagged():
    live = signed("20002", "A-05", L(DAY, 9, 25), other_seat="A-02")
    assert misuse(facts(agents={"20002": live}), L(DAY, 9, 40)) == ["other_seat"]


def test_a_sign_in_under_the_number_of_someone_who_left_is_flagged():
    fx = facts(agents={"20006": signed("20006", "A-01", L(DAY, 9, 25))}, inactive=frozenset({"20006"}))
    assert misuse(fx, L(DAY, 9, 40)) == ["owner_left"]


def test_a_night_operator_marked_absent_is_flagged_after_midnight_too():
    fx = facts(assignments=[night_shift("20007", "A-07")], marks={("20007", DAY, "N"): Mark("absent", None)},
               agents={"20007": signed("20007", "A-07", L(NEXT, 0, 30))})
    assert misuse(fx, L(NEXT, 1, 0)) == ["absent_at_roll_call"]


# --- unexplained sign-out (§8.9) ---------------------------------------------------------------------------

def signout_flag(at: datetime, reason: str = "", assignments=None, was_in: datetime | None = None):
    live = signed("20002", "A-02", was_in or L(DAY, 9, 25)) if was_in is not False else None
    e = ev("20002", "signed_out", at, seat=None, reason=reason)
    t = apply_event(live, e)
    return check_signout(t, e, assignments or [day_shift("20002", "A-02")], P, TZ, "李娜")


def test_a_sign_out_mid_shift_without_a_reason_goes_to_the_leaders_register_citing_8_9():
    flag = signout_flag(L(DAY, 11, 0))
    assert flag is not None and (flag.kind, flag.rule, flag.seat, flag.since) == (
        "unexplained_signout", "§8.9", "A-02", L(DAY, 11, 0))


def test_a_sign_out_with_a_reason_or_at_the_end_of_the_shift_is_not_registered():
    assert signout_flag(L(DAY, 11, 0), reason="headset broken") is None
    assert signout_flag(L(DAY, 17, 26)) is None  # within five minutes of the end
    assert signout_flag(L(DAY, 18, 0), was_in=L(DAY, 9, 25)) is None  # after the shift


def test_a_sign_out_when_not_signed_in_is_not_registered():
    assert signout_flag(L(DAY, 11, 0), was_in=False) is None


def test_a_night_operator_signing_out_after_midnight_mid_shift_is_registered():
    flag = signout_flag(L(NEXT, 2, 0), assignments=[night_shift("20002", "A-02")], was_in=L(DAY, 23, 0))
    assert flag is not None and flag.detail["shift"] == "N"


def test_an_out_of_order_sign_out_is_not_registered():
    live = signed("20002", "A-02", L(DAY, 9, 25), last_at=L(DAY, 11, 30))
    e = ev("20002", "signed_out", L(DAY, 11, 0), seat=None)
    assert check_signout(apply_event(live, e), e, [day_shift("20002", "A-02")], P, TZ) is None


# --- end of shift (§7.3) -----------------------------------------------------------------------------------

def test_a_seat_still_occupied_after_its_operators_shift_ended_with_no_successor_is_flagged_citing_7_3():
    fx = facts(seats={"A-02": seat("A-02", "occupied")}, assignments=[day_shift("20002", "A-02")])
    assert compute_flags(fx, L(DAY, 17, 34), P) == []  # within the grace
    (flag,) = compute_flags(fx, L(DAY, 17, 35), P)
    assert (flag.kind, flag.rule, flag.seat, flag.since) == ("end_of_shift", "§7.3", "A-02", L(DAY, 17, 30))


def test_a_seat_with_a_successor_on_the_roster_is_not_flagged_at_shift_end():
    succ = Assignment("20009", "20009", "A-02", "operator", "E", DAY, L(DAY, 17, 30), L(DAY, 23, 0))
    fx = facts(seats={"A-02": seat("A-02", "occupied")}, assignments=[day_shift("20002", "A-02"), succ])
    assert compute_flags(fx, L(DAY, 17, 40), P) == []


def test_a_seat_still_signed_in_after_shift_end_is_flagged_even_when_the_sensor_says_vacant():
    fx = facts(seats={"A-02": seat("A-02", "vacant")}, assignments=[day_shift("20002", "A-02")],
               agents={"20002": signed("20002", "A-02", L(DAY, 9, 25))})
    (flag,) = compute_flags(fx, L(DAY, 17, 40), P)
    assert flag.kind == "end_of_shift" and flag.detail["signed_in"] is True and flag.employee_no == "20002"


def test_a_vacant_signed_out_seat_after_shift_end_is_not_flagged():
    fx = facts(seats={"A-02": seat("A-02", "vacant")}, assignments=[day_shift("20002", "A-02")])
    assert compute_flags(fx, L(DAY, 17, 40), P) == []


def test_a_night_seat_still_occupied_after_eight_the_next_morning_is_flagged():
    fx = facts(seats={"A-07": seat("A-07", "occupied")}, assignments=[night_shift("20007", "A-07")])
    assert compute_flags(fx, L(NEXT, 8, 4), P) == []
    (flag,) = compute_flags(fx, L(NEXT, 8, 6), P)
    assert flag.kind == "end_of_shift" and flag.since == L(NEXT, 8, 0)


def test_a_seat_used_by_someone_on_a_shift_now_is_not_flagged():
    fx = facts(seats={"A-02": seat("A-02", "occupied")},
               assignments=[Assignment("20002", "x", "A-02", "operator", "M", DAY, L(DAY, 3, 30), L(DAY, 9, 30)),
                            day_shift("20004", "A-04")],
               agents={"20004": signed("20004", "A-02", L(DAY, 9, 25))})
    assert "end_of_shift" not in kinds(compute_flags(fx, L(DAY, 10, 0), P))


# --- what a seat shows -------------------------------------------------------------------------------------

def test_an_occupied_seat_with_nobody_signed_in_and_a_sign_in_at_a_vacant_seat_are_shown_as_such():
    live = signed("20002", "A-02", L(DAY, 9, 25), state="busy")
    assert f.seat_status("occupied", [], None) == ("occupied", "occupied_not_signed_in")
    assert f.seat_status("vacant", [live], None) == ("busy", "signed_in_vacant")
    assert f.seat_status("unknown", [live], None) == ("busy", None)
    assert f.seat_status("vacant", [], day_shift("20002", "A-02")) == ("assigned_empty", None)
    assert f.seat_status(None, [], None) == ("free", None)


def test_the_counts_come_from_the_seats():
    seats = [{"sensor": "occupied", "agent": {"state": "busy"}},
             {"sensor": "vacant", "agent": {"state": "signed_in"}, "mismatch": "signed_in_vacant"},
             {"sensor": "occupied", "agent": None, "mismatch": "occupied_not_signed_in"},
             {"sensor": "vacant", "agent": None, "assigned": {"in_progress": True}},
             {"sensor": "vacant", "agent": None, "assigned": {"in_progress": False}}]
    c = f.counts(seats)
    assert (c["seats"], c["on_floor"], c["occupied"], c["signed_in"], c["busy"], c["signed_in_idle"],
            c["empty_assigned"], c["mismatched"]) == (5, 3, 2, 2, 1, 1, 1, 2)


def test_every_flag_kind_cites_a_floor_rule():
    assert all(rule.startswith("§") for rule, _sev in f.FLAG_KINDS.values())


def test_the_floor_rules_import_nothing_from_infrastructure_and_read_no_clock():
    source = (Path(__file__).parents[2] / "kiosk" / "domain" / "floor.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "datetime", "typing", "zoneinfo", "kiosk"}
    assert ".now(" not in source and "utcnow" not in source and "today(" not in source
