"""Import rules without files or a database: cells, headers, one row at a time, and the whole file's plan."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, strategies as st

from kiosk.domain import imports as rules
from kiosk.domain.imports import (BadgeRecord, Line, PointRecord, RosterRecord, Row, SeatRecord, ShiftRecord,
                                  StaffRecord, cell_text, read_rows)

F = "f.csv"


def rows_of(kind: str, *lines: list[object]) -> list[Row]:
    """Rows as read_rows gives them, for a header of the kind's known columns."""
    rows, errors = read_rows(F, [list(rules.SPECS[kind].known), *lines], rules.SPECS[kind])
    assert errors == []
    return rows


def one(kind: str, /, **values: str) -> tuple[object, list[str]]:
    """Parse a single row given by column (a points row has a ``kind`` column too); return the record and errors."""
    record, errors = rules.PARSERS[kind](F, Row(2, values))
    return record, [str(e) for e in errors]


def lines(*records: object, first_row: int = 2) -> list[Line]:
    return [Line(first_row + i, r) for i, r in enumerate(records)]


# --- cells ----------------------------------------------------------------------------------------

def test_an_employee_number_typed_as_a_number_reads_as_its_digits():
    assert cell_text(10023) == "10023"
    assert cell_text(10023.0) == "10023"


def test_a_fractional_number_keeps_every_digit():
    assert cell_text(140.25) == "140.25"
    assert float(cell_text(0.1 + 0.2)) == 0.1 + 0.2


def test_a_date_cell_reads_as_an_iso_date_even_with_a_time_part_in_a_date_column():
    assert cell_text(datetime(2026, 3, 1)) == "2026-03-01"
    assert cell_text(datetime(2026, 3, 1, 9, 30), "date") == "2026-03-01"
    assert cell_text(date(2026, 3, 1)) == "2026-03-01"


def test_a_time_cell_reads_as_hh_mm_and_a_hair_short_of_the_minute_rounds_up():
    assert cell_text(time(23, 0)) == "23:00"
    assert cell_text(time(7, 59, 59, 999000)) == "08:00"
    assert cell_text(datetime(1899, 12, 30, 8, 0), "time") == "08:00"
    assert cell_text(timedelta(hours=8, minutes=30)) == "08:30"


def test_a_time_with_seconds_keeps_them_so_it_is_refused_as_a_malformed_time():
    assert cell_text(time(8, 0, 30)) == "08:00:30"


def test_text_cells_lose_surrounding_spaces_including_ideographic_and_zero_width_ones():
    assert cell_text("\u3000王伟 \u200b") == "王伟"
    assert cell_text(None) == ""


# --- the header -----------------------------------------------------------------------------------

def test_header_names_are_trimmed_and_case_insensitive_and_extra_columns_are_ignored():
    rows, errors = read_rows(F, [[" Employee_No ", "NAME", "note", "role", "post_level", "skill_grade"],
                                 ["10001", "王伟", "ignored", "leader", "L2", "A"]], rules.SPECS["staff"])
    assert errors == []
    assert rows == [Row(2, {"employee_no": "10001", "name": "王伟", "role": "leader", "post_level": "L2",
                            "skill_grade": "A"})]


def test_blank_rows_are_skipped_but_counted_so_row_numbers_match_the_spreadsheet():
    rows, errors = read_rows(F, [[], ["code", "name", "start", "end"], ["", "", "", ""],
                                 ["N", "夜班", "23:00", "08:00"]], rules.SPECS["shifts"])
    assert errors == [] and [r.number for r in rows] == [4]


def test_a_missing_column_is_reported_on_the_header_row_with_the_columns_found():
    _rows, errors = read_rows(F, [["employee_no", "Name", "role"]], rules.SPECS["staff"])
    assert [str(e) for e in errors] == [
        "f.csv:1:post_level: missing required column post_level; found: employee_no, Name, role",
        "f.csv:1:skill_grade: missing required column skill_grade; found: employee_no, Name, role",
    ]


def test_a_column_given_twice_is_refused():
    _rows, errors = read_rows(F, [["seat", "zone", "x", "y", "X"]], rules.SPECS["seats"])
    assert [str(e) for e in errors] == ["f.csv:1:x: column x appears 2 times (columns 3, 5)"]


def test_a_file_without_any_row_is_empty():
    _rows, errors = read_rows(F, [[], [""]], rules.SPECS["seats"])
    assert [str(e) for e in errors] == [
        "f.csv:1:-: the file is empty; its first row must name the columns seat, zone, x, y"]


def test_a_header_alone_gives_no_rows_and_no_errors():
    assert read_rows(F, [["seat", "zone", "x", "y"]], rules.SPECS["seats"]) == ([], [])


def test_cells_of_a_typed_date_column_read_as_dates():
    rows = rows_of("roster", [datetime(2026, 3, 1, 0, 0), "N", 10001, None, "leader"])
    assert rows[0].values == {"date": "2026-03-01", "shift": "N", "employee_no": "10001", "seat": "",
                              "duty": "leader", "floor": ""}


# --- staff rows -----------------------------------------------------------------------------------

def test_a_staff_row_reads_role_in_any_case_and_leaves_level_and_grade_optional():
    record, errors = one("staff", employee_no="10001", name="王伟", role="Leader", post_level="", skill_grade="")
    assert errors == [] and record == StaffRecord("10001", "王伟", "leader", "", "", None)


@pytest.mark.parametrize("word,active", [("yes", True), ("TRUE", True), ("1", True), ("在职", True),
                                         ("no", False), ("False", False), ("0", False), ("离职", False)])
def test_the_active_column_understands_yes_no_words_in_english_digits_and_chinese(word, active):
    record, errors = one("staff", employee_no="1", name="n", role="operator", active=word)
    assert errors == [] and record.active is active


def test_a_staff_row_with_an_unknown_role_no_name_and_a_strange_active_word_reports_each():
    record, errors = one("staff", employee_no="10001", name="", role="boss", active="maybe")
    assert record is None
    assert errors == [
        "f.csv:2:name: a value is required",
        "f.csv:2:role: 'boss' is not a role; use one of operator, leader, supervisor, security, admin, management",
        "f.csv:2:active: 'maybe' is not yes or no; use yes, no, 1, 0, true, false, 在职 or 离职",
    ]


def test_an_employee_number_longer_than_the_schema_allows_is_refused():
    _record, errors = one("staff", employee_no="9" * 33, name="n", role="operator")
    assert errors == [f"f.csv:2:employee_no: '{'9' * 33}' is longer than 32 characters"]


# --- badge rows -----------------------------------------------------------------------------------

def test_a_badge_uid_is_normalised_whatever_its_separators_and_case():
    record, errors = one("badges", badge_uid="04:a1:b2", employee_no="10001")
    assert errors == [] and record == BadgeRecord("04A1B2", "10001", None, None)


def test_a_badge_row_with_a_bad_uid_status_and_date_reports_each():
    record, errors = one("badges", badge_uid="04:zz", employee_no="10001", status="broken", issued_on="2025/03/01")
    assert record is None
    assert errors == [
        "f.csv:2:badge_uid: badge UID '04:zz' is not hexadecimal",
        "f.csv:2:status: 'broken' is not a badge status; use one of active, lost, revoked, returned",
        "f.csv:2:issued_on: '2025/03/01' is not a date as YYYY-MM-DD",
    ]


# --- shift rows -----------------------------------------------------------------------------------

def test_a_night_shift_ending_before_it_starts_crosses_midnight_and_is_valid():
    record, errors = one("shifts", code="N", name="夜班", start="23:00", end="8:00")
    assert errors == [] and record == ShiftRecord("N", "夜班", "23:00", "08:00")


def test_a_shift_ending_when_it_starts_is_refused():
    _record, errors = one("shifts", code="X", name="x", start="08:00", end="08:00")
    assert errors == ["f.csv:2:end: a shift cannot last 0 or 24 hours"]


def test_a_malformed_time_is_refused_with_what_was_written():
    _record, errors = one("shifts", code="X", name="x", start="25:00", end="8h")
    assert errors == ["f.csv:2:start: '25:00' is not a time of day (00:00 to 23:59)",
                      "f.csv:2:end: '8h' is not a time as HH:MM"]


# --- seat rows ------------------------------------------------------------------------------------

def test_seat_coordinates_must_be_finite_numbers():
    _record, errors = one("seats", seat="A-01", zone="A", x="sixty", y="nan")
    assert errors == ["f.csv:2:x: 'sixty' is not a number", "f.csv:2:y: 'nan' is not a number"]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_coordinate_written_as_a_cell_reads_back_exactly(x):
    record, errors = one("seats", seat="A-01", zone="A", x=cell_text(x), y="0")
    assert errors == [] and record.x == x


# --- roster rows ----------------------------------------------------------------------------------

def test_a_leader_may_have_no_seat_but_an_operator_needs_one():
    record, errors = one("roster", date="2026-03-01", shift="N", employee_no="10001", seat="", duty="leader")
    assert errors == [] and record.seat is None
    _record, errors = one("roster", date="2026-03-01", shift="N", employee_no="10002", seat="", duty="operator")
    assert errors == ["f.csv:2:seat: an operator needs a seat; only a leader may have none"]


def test_a_roster_row_with_an_impossible_date_an_unknown_duty_and_no_shift_reports_each():
    _record, errors = one("roster", date="2026-02-30", shift="", employee_no="10001", seat="A-01", duty="boss")
    assert errors == ["f.csv:2:date: '2026-02-30' is not a date as YYYY-MM-DD",
                      "f.csv:2:shift: a value is required",
                      "f.csv:2:duty: 'boss' is not a duty; use leader or operator"]


# --- point rows -----------------------------------------------------------------------------------

def test_a_point_row_reads_its_kind_in_any_case_and_leaves_gateway_and_label_optional():
    record, errors = one("points", point="door:main", kind="Door", label="", gateway="", seat="")
    assert errors == [] and record == PointRecord("door:main", "door", "", None)


def test_a_seat_point_names_its_seat_in_its_id_and_the_seat_column_may_repeat_it():
    record, errors = one("points", point="seat:A-01", kind="seat", label="A-01 坐垫", gateway="floor-3", seat="A-01")
    assert errors == [] and record == PointRecord("seat:A-01", "seat", "A-01 坐垫", "floor-3")
    assert record.seat == "A-01"
    assert PointRecord("seat:A-01", "door", "").seat is None  # only a seat point belongs to a seat


def test_a_seat_point_not_named_after_its_seat_is_refused_saying_what_to_call_it():
    _record, errors = one("points", point="mat-7", kind="seat", label="", seat="A-07")
    assert errors == ["f.csv:2:point: a seat point is named after its seat: use seat:A-07, not mat-7"]
    _record, errors = one("points", point="seat:", kind="seat", label="")
    assert errors == ["f.csv:2:point: a seat point is named after its seat: use seat:<seat id>, not seat:"]


def test_a_seat_column_that_disagrees_with_the_point_id_is_refused():
    _record, errors = one("points", point="seat:A-01", kind="seat", label="", seat="A-02")
    assert errors == [
        "f.csv:2:seat: seat A-02 does not match point seat:A-01; a seat point is named seat:<its seat id>"]


def test_a_point_that_is_not_a_seat_cannot_name_a_seat():
    _record, errors = one("points", point="exit:main", kind="exit_button", label="", seat="A-01")
    assert errors == ["f.csv:2:seat: only a seat point belongs to a seat; leave seat empty for an exit_button point"]


@pytest.mark.parametrize("point", ["door main", "门:1", "x" * 65, "door/main"])
def test_a_point_id_outside_1_to_64_letters_digits_and_colon_underscore_dot_dash_is_refused(point):
    _record, errors = one("points", point=point, kind="door", label="")
    assert errors == [f"f.csv:2:point: {point!r} is not a point id; use 1 to 64 characters of A-Z a-z 0-9 : _ . -"]


def test_a_point_row_with_an_unknown_kind_a_bad_gateway_and_a_long_label_reports_each():
    record, errors = one("points", point="fan:1", kind="fan", label="风" * 101, gateway="floor 3")
    assert record is None
    assert errors == [
        "f.csv:2:kind: 'fan' is not a point kind; use one of door, exit_button, seat, equipment",
        f"f.csv:2:label: '{'风' * 101}' is longer than 100 characters",
        "f.csv:2:gateway: 'floor 3' is not a gateway id; use 1 to 64 characters of A-Z a-z 0-9 _ . -"]


def test_a_point_id_twice_in_a_file_is_a_duplicate():
    door = ["door:main", "door", "正门", "", ""]
    _lines, errors = rules.parse_rows("points", F, rows_of("points", door, door))
    assert [str(e) for e in errors] == ["f.csv:3:point: point door:main is also on row 2"]


# --- plans: staff ---------------------------------------------------------------------------------

WANG = StaffRecord("10001", "王伟", "leader", "L2", "A", True)


def test_staff_are_new_changed_or_unchanged_against_what_is_stored():
    stored = {"10001": WANG, "10002": StaffRecord("10002", "李娜", "operator", "L1", "B", True)}
    plan = rules.plan_staff(lines(
        StaffRecord("10001", "王伟", "leader", "L2", "A", None),
        StaffRecord("10002", "李娜", "operator", "L2", "B", None),
        StaffRecord("10003", "张敏", "operator", "", "", None)), stored)
    assert [r.employee_no for r in plan.new] == ["10003"] and plan.new[0].active is True
    assert [r.post_level for r in plan.changed] == ["L2"] and plan.unchanged == 1


def test_a_file_without_active_keeps_a_leaver_inactive():
    stored = {"10001": StaffRecord("10001", "王伟", "leader", "L2", "A", False)}
    plan = rules.plan_staff(lines(StaffRecord("10001", "王伟", "leader", "L2", "A", None)), stored)
    assert plan.unchanged == 1 and plan.changed == []


def test_an_employee_number_twice_in_a_file_is_a_duplicate_naming_the_first_row():
    staff = ["10001", "王伟", "leader", "", ""]
    lines_, errors = rules.parse_rows("staff", F, rows_of("staff", staff, staff))
    assert [str(e) for e in errors] == ["f.csv:3:employee_no: employee 10001 is also on row 2"]
    assert [line.row for line in lines_] == [2]


def test_a_repeated_key_is_reported_even_when_its_first_row_has_other_problems():
    _lines, errors = rules.parse_rows("seats", F, rows_of("seats", ["C-01", "C", "sixty", 1], ["C-01", "C", 1, 1]))
    assert [str(e) for e in errors] == ["f.csv:2:x: 'sixty' is not a number",
                                        "f.csv:3:seat: seat C-01 is also on row 2"]


# --- plans: badges --------------------------------------------------------------------------------

def test_a_badge_uid_twice_in_a_file_is_a_duplicate_however_it_is_spelt():
    _lines, errors = rules.parse_rows("badges", F, rows_of("badges", ["04:a1", "1", "", ""], ["04A1", "2", "lost", ""]))
    assert [str(e) for e in errors] == ["f.csv:3:badge_uid: badge UID 04A1 is also on row 2"]


def test_a_badge_held_by_someone_else_names_the_holder():
    _plan, errors = rules.plan_badges(F, lines(BadgeRecord("04A1", "2", "active")),
                                      {"04A1": BadgeRecord("04A1", "1", "returned")}, {"1", "2"})
    assert [str(e) for e in errors] == ["f.csv:2:badge_uid: badge UID 04A1 belongs to employee 1"]


def test_a_badge_for_an_unknown_employee_is_refused():
    _plan, errors = rules.plan_badges(F, lines(BadgeRecord("04A1", "9", "active")), {}, {"1"})
    assert [str(e) for e in errors] == ["f.csv:2:employee_no: unknown employee 9"]


def test_a_new_active_badge_while_the_old_one_is_still_active_is_refused():
    stored = {"04A1": BadgeRecord("04A1", "1", "active")}
    _plan, errors = rules.plan_badges(F, lines(BadgeRecord("04B2", "1", "active")), stored, {"1"})
    assert [str(e) for e in errors] == [
        "f.csv:2:status: employee 1 already has active badge 04A1; "
        "mark it lost, revoked or returned first (a line in this file will do)"]


def test_two_active_badges_for_one_person_in_a_file_are_refused():
    _plan, errors = rules.plan_badges(F, lines(BadgeRecord("04A1", "1", None), BadgeRecord("04B2", "1", "active")),
                                      {}, {"1"})
    assert [str(e) for e in errors] == [
        "f.csv:3:status: employee 1 already has an active badge on row 2; only one may be active"]


def test_a_badge_swap_in_one_file_marks_the_old_one_and_adds_the_new_one_in_either_order():
    stored = {"04A1": BadgeRecord("04A1", "1", "active", date(2025, 3, 1))}
    plan, errors = rules.plan_badges(F, lines(BadgeRecord("04B2", "1", "active"), BadgeRecord("04A1", "1", "lost")),
                                     stored, {"1"})
    assert errors == []
    assert plan.new == [BadgeRecord("04B2", "1", "active", None)]
    assert plan.changed == [BadgeRecord("04A1", "1", "lost", date(2025, 3, 1))]


def test_a_lost_badge_stays_lost_when_the_file_does_not_give_a_status():
    stored = {"04A1": BadgeRecord("04A1", "1", "lost", date(2025, 3, 1))}
    plan, errors = rules.plan_badges(F, lines(BadgeRecord("04A1", "1", None, None)), stored, {"1"})
    assert errors == [] and plan.unchanged == 1


# --- plans: shifts and seats ----------------------------------------------------------------------

def test_a_shift_code_twice_in_a_file_is_a_duplicate():
    night = ["N", "夜班", "23:00", "08:00"]
    _lines, errors = rules.parse_rows("shifts", F, rows_of("shifts", night, night))
    assert [str(e) for e in errors] == ["f.csv:3:code: shift N is also on row 2"]


def test_seats_name_the_zones_to_create_once_each():
    plan = rules.plan_seats(lines(SeatRecord("A-01", "A", 1, 1), SeatRecord("E-01", "E", 1, 1),
                                  SeatRecord("E-02", "E", 2, 1)), {})
    assert rules.new_zones(plan, {"A"}) == ["E"]


# --- plans: points ---------------------------------------------------------------------------------

DOOR = PointRecord("door:main", "door", "正门", "floor-3")


def test_new_points_are_added_and_changed_labels_are_updated():
    plan, errors = rules.plan_points(F, lines(PointRecord("door:main", "door", "正门（东）", "floor-3"),
                                              PointRecord("door:fire", "door", "消防门")),
                                     {"door:main": DOOR}, seats=set())
    assert errors == []
    assert plan.new == [PointRecord("door:fire", "door", "消防门", None)]
    assert plan.changed == [PointRecord("door:main", "door", "正门（东）", "floor-3")]


def test_a_point_whose_file_gives_no_gateway_keeps_the_one_it_has():
    plan, errors = rules.plan_points(F, lines(PointRecord("door:main", "door", "正门", None)),
                                     {"door:main": DOOR}, seats=set())
    assert errors == [] and plan.unchanged == 1 and plan.changed == []


def test_a_point_cannot_change_kind_because_its_history_would_not_fit():
    plan, errors = rules.plan_points(F, lines(PointRecord("door:main", "equipment", "正门")),
                                     {"door:main": DOOR}, seats=set())
    assert [str(e) for e in errors] == [
        "f.csv:2:kind: point door:main is a door point and cannot become an equipment point, because its "
        "recorded history is of door states; define the equipment point under another id"]
    assert (plan.new, plan.changed, plan.unchanged) == ([], [], 0)


def test_a_seat_point_needs_its_seat_to_exist():
    _plan, errors = rules.plan_points(F, lines(PointRecord("seat:A-01", "seat", ""),
                                               PointRecord("seat:Z-99", "seat", "")), {}, seats={"A-01"})
    assert [str(e) for e in errors] == ["f.csv:3:point: unknown seat Z-99: a seat point needs its seat imported first"]


def test_points_not_in_the_file_are_never_removed():
    plan, _errors = rules.plan_points(F, [], {"door:main": DOOR}, seats=set())
    assert plan.removed == []


# --- plans: roster --------------------------------------------------------------------------------

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
REFS = dict(staff={"1", "2", "3"}, shifts={"M", "N"}, seats={"A-01", "A-02"})


def test_a_roster_file_replaces_the_date_and_shift_it_names_and_leaves_others_alone():
    stored = [RosterRecord(D1, "N", "1", None, "leader"), RosterRecord(D1, "N", "2", "A-01", "operator"),
              RosterRecord(D1, "M", "3", "A-01", "operator")]
    plan, errors = rules.plan_roster(F, lines(RosterRecord(D1, "N", "1", None, "leader"),
                                              RosterRecord(D1, "N", "3", "A-02", "operator")), stored, **REFS)
    assert errors == []
    assert (plan.new, plan.changed, plan.unchanged) == ([RosterRecord(D1, "N", "3", "A-02", "operator")], [], 1)
    assert plan.removed == [RosterRecord(D1, "N", "2", "A-01", "operator")]


def test_roster_references_must_exist():
    _plan, errors = rules.plan_roster(F, lines(RosterRecord(D1, "X", "9", "Z-99", "operator")), [], **REFS)
    assert [str(e) for e in errors] == ["f.csv:2:shift: unknown shift X", "f.csv:2:employee_no: unknown employee 9",
                                        "f.csv:2:seat: unknown seat Z-99"]


def test_a_person_rostered_twice_on_one_date_and_shift_is_refused():
    _lines, errors = rules.parse_rows("roster", F, rows_of("roster", ["2026-03-01", "N", "1", "A-01", "operator"],
                                                           ["2026-03-01", "N", "1", "A-02", "operator"]))
    assert [str(e) for e in errors] == [
        "f.csv:3:employee_no: employee 1 is rostered twice on 2026-03-01 shift N (also on row 2)"]


def test_the_same_person_on_two_dates_is_not_a_duplicate():
    lines_, errors = rules.parse_rows("roster", F, rows_of("roster", ["2026-03-01", "N", "1", "A-01", "operator"],
                                                           ["2026-03-02", "N", "1", "A-01", "operator"]))
    assert errors == [] and len(lines_) == 2
    _plan, errors = rules.plan_roster(F, lines_, [], **REFS)
    assert errors == []


def test_one_seat_given_to_two_people_in_one_shift_is_refused():
    _plan, errors = rules.plan_roster(F, lines(RosterRecord(D1, "N", "1", "A-01", "operator"),
                                               RosterRecord(D1, "N", "2", "A-01", "operator")), [], **REFS)
    assert [str(e) for e in errors] == [
        "f.csv:3:seat: seat A-01 is also given to employee 1 on row 2 (2026-03-01 shift N)"]


def test_errors_are_listed_by_row_then_by_column_order():
    errs = [rules.RowError(F, 3, "duty", "d"), rules.RowError(F, 2, "seat", "s"), rules.RowError(F, 2, "date", "t")]
    assert [(e.row, e.column) for e in rules.ordered(errs, rules.SPECS["roster"])] == [
        (2, "date"), (2, "seat"), (3, "duty")]
