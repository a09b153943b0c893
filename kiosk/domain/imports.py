"""Floor data import rules: spreadsheet rows in, checked records and a plan of changes out.

Pure: no files, no database, no clock. The service reads a CSV or XLSX file into raw rows and
loads the facts already stored; these functions find the header, check every row on its own,
cross-check the rows against each other and against the stored facts, and say what would be
new, changed, unchanged or removed. Every problem is a ``RowError`` that prints as
``file:row:column: message``, with the row numbered as a spreadsheet shows it (header = row 1).

One rule for optional columns, so that re-importing an old file never undoes a later change
(a lost badge must not come back to life because the issuing file said nothing about status):
an optional value that is left out or empty is *not given* — a new record gets the default,
an existing record keeps what it has.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Callable, Collection, Generic, Iterable, Mapping, Sequence, TypeVar

from kiosk.domain import floors as floor_rules
from kiosk.domain.badges import InvalidBadgeUid, normalize_uid
from kiosk.domain.shifts import parse_hhmm

from kiosk.domain.vocabulary import BADGE_STATUSES, DUTIES, POINT_KINDS, ROLES  # noqa: F401  (re-exported)


ACTIVE_WORDS = {"yes": True, "1": True, "true": True, "在职": True,
                "no": False, "0": False, "false": False, "离职": False}

# Column widths of the schema: PostgreSQL refuses longer text, so the file is refused first.
MAX_LEN = {"employee_no": 32, "name": 100, "post_level": 32, "skill_grade": 32, "code": 16,
           "shift_name": 64, "seat": 32, "zone": 32, "label": 100, "readers": 200}

# Point ids are what gateways send; gateway ids are what floor_sensors accepts for [gateway] id.
_POINT_ID = re.compile(r"[A-Za-z0-9:_.-]{1,64}")
_GATEWAY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A seat mat's point is named after its seat: the points table has no seat column, so the id is the link.
SEAT_POINT_PREFIX = "seat:"

FILE_LEVEL = "-"  # the column of an error about the whole file (empty, unreadable)

# Besides Unicode whitespace (str.strip's default, which covers NBSP and the ideographic space
# U+3000 of Chinese data entry), cells lose stray BOMs and zero-width spaces from copy and paste.
_STRIP = "\ufeff\u200b"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    """One problem in an import file, located as a spreadsheet user finds it."""

    file: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Columns:
    """The columns of one kind of file: required, optional, and which hold dates or times."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    dates: frozenset[str] = frozenset()
    times: frozenset[str] = frozenset()

    @property
    def known(self) -> tuple[str, ...]:
        """Every column this kind reads, in the order exports write them."""
        return self.required + self.optional


SPECS: dict[str, Columns] = {
    "staff": Columns("staff", ("employee_no", "name", "role", "post_level", "skill_grade"), ("active",)),
    "badges": Columns("badges", ("badge_uid", "employee_no"), ("status", "issued_on"),
                      dates=frozenset({"issued_on"})),
    "shifts": Columns("shifts", ("code", "name", "start", "end"), times=frozenset({"start", "end"})),
    "roster": Columns("roster", ("date", "shift", "employee_no", "seat", "duty"), ("floor",),
                      dates=frozenset({"date"})),
    "seats": Columns("seats", ("seat", "zone", "x", "y"), ("floor",)),
    "points": Columns("points", ("point", "kind", "label"), ("gateway", "seat", "floor")),
    "doors": Columns("doors", ("door", "name", "contact_point"),
                     ("exit_point", "readers", "prewarn_s", "alarm_s", "entry_window_s", "tailgate_s", "x", "y",
                      "floor")),
}
KINDS = tuple(SPECS)


@dataclass(frozen=True)
class Row:
    """One non-blank data row: its number in the file and its cells as trimmed text by column."""

    number: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        """The cell's text, ``""`` when empty or when the file has no such column."""
        return self.values.get(column, "")


@dataclass(frozen=True)
class Line(Generic[T]):
    """A record read from a file, with the row it came from."""

    row: int
    record: T


@dataclass
class Plan(Generic[T]):
    """What an import would do: records to add, to change, to remove, and how many stay as they are."""

    new: list[T] = field(default_factory=list)
    changed: list[T] = field(default_factory=list)
    removed: list[T] = field(default_factory=list)
    unchanged: int = 0


# --- records --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffRecord:
    """A person as a staff file lists them; ``active`` is None when the file does not say."""

    employee_no: str
    name: str
    role: str
    post_level: str
    skill_grade: str
    active: bool | None = True


@dataclass(frozen=True)
class BadgeRecord:
    """A badge by normalised UID; ``status``/``issued_on`` are None when the file does not say."""

    uid: str
    employee_no: str
    status: str | None = "active"
    issued_on: date | None = None


@dataclass(frozen=True)
class ShiftRecord:
    """A shift definition with times as ``HH:MM``; an end before the start is the next day."""

    code: str
    name: str
    start: str
    end: str


@dataclass(frozen=True)
class SeatRecord:
    """A seat, its zone and its plan coordinates."""

    seat: str
    zone: str
    x: float
    y: float
    floor: str | None = None  # the zone's floor (code); None: not given


@dataclass(frozen=True)
class RosterRecord:
    """One person on one shift of one date; a leader may have no seat."""

    day: date
    shift: str
    employee_no: str
    seat: str | None
    duty: str
    floor: str | None = None  # the floor the shift is worked on (code); None: not given

    @property
    def key(self) -> tuple[date, str, str]:
        """One line per person per date and shift."""
        return (self.day, self.shift, self.employee_no)


@dataclass(frozen=True)
class PointRecord:
    """A sensor point's definition; ``gateway`` is None when the file does not say (or none is bound yet).

    Only the definition: the live state belongs to the gateways and no file touches it.
    """

    point: str
    kind: str
    label: str
    gateway: str | None = None
    floor: str | None = None  # code; None: not given

    @property
    def seat(self) -> str | None:
        """The seat a seat point belongs to, read from its id (``seat:A-01`` → ``A-01``)."""
        if self.kind == "seat" and self.point.startswith(SEAT_POINT_PREFIX):
            return self.point[len(SEAT_POINT_PREFIX):]
        return None


# A door's timings when a new door's file leaves them out (kiosk.store.models.Door).
DOOR_DEFAULTS = {"prewarn_s": 20.0, "alarm_s": 30.0, "entry_window_s": 10.0, "tailgate_s": 15.0}
DOOR_TIMINGS = tuple(DOOR_DEFAULTS)


@dataclass(frozen=True)
class DoorRecord:
    """A door of the call area: its contact point, exit button, badge readers, timings (seconds) and place on
    the plan. A None is "not given" (an existing door keeps its value); x and y come together or not at all.
    """

    door: str
    name: str
    contact_point: str
    exit_point: str | None = None
    readers: tuple[str, ...] | None = None
    prewarn_s: float | None = None
    alarm_s: float | None = None
    entry_window_s: float | None = None
    tailgate_s: float | None = None
    x: float | None = None
    y: float | None = None
    floor: str | None = None  # code; None: not given


# --- cells and the header -------------------------------------------------------------------------

def _hhmm(t: time) -> str:
    """``HH:MM`` for a time cell; a time with seconds keeps them, so it fails as a malformed time."""
    seconds = t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
    minutes = round(seconds / 60)
    if abs(seconds - minutes * 60) < 1 and minutes < 24 * 60:
        # Excel stores times as fractions of a day; 08:00 may come back a hair short of it.
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    return t.isoformat()


def cell_text(value: object, as_type: str = "text") -> str:
    """A cell as text: ``10023`` (int or 10023.0) → ``"10023"``, date cells → ``YYYY-MM-DD``, time cells → ``HH:MM``.

    ``as_type`` is ``"date"`` or ``"time"`` for columns that hold them, so a datetime cell gives
    its date in a date column and its time of day in a time column.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if as_type == "time":
            return _hhmm(value.time())
        if as_type == "date" or value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _hhmm(value)
    if isinstance(value, timedelta):
        # A duration-formatted cell ([h]:mm); within a day it reads as a time of day.
        total = value.total_seconds()
        if 0 <= total < 86400:
            return _hhmm((datetime.min + value).time())
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value).strip().strip(_STRIP).strip()


def read_rows(file: str, cells: Iterable[Sequence[object]], spec: Columns) -> tuple[list[Row], list[RowError]]:
    """Find the header (the first non-blank row), check its columns and turn the rows below into ``Row``s.

    Header names are trimmed and case-insensitive; extra columns are ignored; blank rows are
    skipped but still counted, so row numbers match what a spreadsheet shows.
    """
    positions: dict[str, int] = {}
    rows: list[Row] = []
    header_row = 0
    for number, raw in enumerate(cells, start=1):
        texts = [cell_text(v) for v in raw]
        if not any(texts):
            continue
        if not header_row:
            header_row = number
            errors = _check_header(file, number, texts, spec)
            if errors:
                return [], errors
            names = [t.lower() for t in texts]
            positions = {col: names.index(col) for col in spec.known if col in names}
            continue
        values: dict[str, str] = {}
        for col, i in positions.items():
            raw_value = raw[i] if i < len(raw) else None
            as_type = "date" if col in spec.dates else "time" if col in spec.times else "text"
            values[col] = cell_text(raw_value, as_type)
        if any(values.values()):
            rows.append(Row(number, values))
    if not header_row:
        return [], [RowError(file, 1, FILE_LEVEL,
                             f"the file is empty; its first row must name the columns {', '.join(spec.required)}")]
    return rows, []


def _check_header(file: str, number: int, names: list[str], spec: Columns) -> list[RowError]:
    """Every required column present, no column we read given twice."""
    found = [n for n in names if n]
    lowered = [n.lower() for n in names]
    errors = []
    for col in spec.known:
        where = [i + 1 for i, n in enumerate(lowered) if n == col]
        if len(where) > 1:
            errors.append(RowError(file, number, col,
                                   f"column {col} appears {len(where)} times (columns {', '.join(map(str, where))})"))
    for col in spec.required:
        if col not in lowered:
            errors.append(RowError(file, number, col,
                                   f"missing required column {col}; found: {', '.join(found)}"))
    return errors


# --- one row at a time ----------------------------------------------------------------------------

class _Cells:
    """One row's values, read with the checks every kind shares; problems are collected, not raised."""

    def __init__(self, file: str, row: Row) -> None:
        self.file, self.row = file, row
        self.errors: list[RowError] = []

    def fail(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.file, self.row.number, column, message))

    def text(self, column: str, *, required: bool = True, max_len: int | None = None) -> str:
        value = self.row.get(column)
        if not value:
            if required:
                self.fail(column, "a value is required")
            return ""
        if max_len is not None and len(value) > max_len:
            self.fail(column, f"{value!r} is longer than {max_len} characters")
            return ""
        return value

    def choice(self, column: str, allowed: Sequence[str], what: str, *, required: bool = True) -> str | None:
        value = self.text(column, required=required)
        if not value:
            return None
        if value.lower() not in allowed:
            choices = " or ".join(allowed) if len(allowed) == 2 else "one of " + ", ".join(allowed)
            self.fail(column, f"{value!r} is not {what}; use {choices}")
            return None
        return value.lower()

    def day(self, column: str, *, required: bool = True) -> date | None:
        value = self.text(column, required=required)
        if not value:
            return None
        try:
            if not _ISO_DATE.match(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.fail(column, f"{value!r} is not a date as YYYY-MM-DD")
            return None

    def hhmm(self, column: str) -> str:
        value = self.text(column)
        if not value:
            return ""
        try:
            t = parse_hhmm(value)
        except ValueError as exc:
            self.fail(column, str(exc))
            return ""
        return f"{t.hour:02d}:{t.minute:02d}"

    def number(self, column: str) -> float:
        value = self.text(column)
        if not value:
            return math.nan
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            self.fail(column, f"{value!r} is not a number")
        return number


def parse_staff(file: str, row: Row) -> tuple[StaffRecord | None, list[RowError]]:
    """A staff row: employee number, name and role required; level and grade may be empty."""
    c = _Cells(file, row)
    employee_no = c.text("employee_no", max_len=MAX_LEN["employee_no"])
    name = c.text("name", max_len=MAX_LEN["name"])
    role = c.choice("role", ROLES, "a role")
    post_level = c.text("post_level", required=False, max_len=MAX_LEN["post_level"])
    skill_grade = c.text("skill_grade", required=False, max_len=MAX_LEN["skill_grade"])
    active: bool | None = None
    raw_active = c.text("active", required=False)
    if raw_active:
        active = ACTIVE_WORDS.get(raw_active.lower())
        if active is None:
            c.fail("active", f"{raw_active!r} is not yes or no; use yes, no, 1, 0, true, false, 在职 or 离职")
    if c.errors or role is None:
        return None, c.errors
    return StaffRecord(employee_no, name, role, post_level, skill_grade, active), []


def parse_badge(file: str, row: Row) -> tuple[BadgeRecord | None, list[RowError]]:
    """A badge row: a UID in any usual spelling, its holder, and optionally status and issue date."""
    c = _Cells(file, row)
    uid = ""
    raw_uid = c.text("badge_uid")
    if raw_uid:
        try:
            uid = normalize_uid(raw_uid)
        except InvalidBadgeUid as exc:
            c.fail("badge_uid", str(exc))
    employee_no = c.text("employee_no", max_len=MAX_LEN["employee_no"])
    status = c.choice("status", BADGE_STATUSES, "a badge status", required=False)
    issued_on = c.day("issued_on", required=False)
    if c.errors:
        return None, c.errors
    return BadgeRecord(uid, employee_no, status, issued_on), []


def parse_shift(file: str, row: Row) -> tuple[ShiftRecord | None, list[RowError]]:
    """A shift row; an end before the start crosses midnight, an end equal to the start is refused."""
    c = _Cells(file, row)
    code = c.text("code", max_len=MAX_LEN["code"])
    name = c.text("name", max_len=MAX_LEN["shift_name"])
    start = c.hhmm("start")
    end = c.hhmm("end")
    if start and end and start == end:
        c.fail("end", "a shift cannot last 0 or 24 hours")
    if c.errors:
        return None, c.errors
    return ShiftRecord(code, name, start, end), []


def parse_seat(file: str, row: Row) -> tuple[SeatRecord | None, list[RowError]]:
    """A seat row: seat and zone ids, numeric plan coordinates."""
    c = _Cells(file, row)
    seat = c.text("seat", max_len=MAX_LEN["seat"])
    zone = c.text("zone", max_len=MAX_LEN["zone"])
    x = c.number("x")
    y = c.number("y")
    floor = c.text("floor", required=False)
    if c.errors:
        return None, c.errors
    return SeatRecord(seat, zone, x, y, floor or None), []


def parse_roster(file: str, row: Row) -> tuple[RosterRecord | None, list[RowError]]:
    """A roster row: date, shift, person, duty; only a leader may have no seat."""
    c = _Cells(file, row)
    day = c.day("date")
    shift = c.text("shift")
    employee_no = c.text("employee_no")
    seat = c.text("seat", required=False)
    duty = c.choice("duty", DUTIES, "a duty")
    if duty == "operator" and not seat and not c.errors:
        c.fail("seat", "an operator needs a seat; only a leader may have none")
    floor = c.text("floor", required=False)
    if c.errors or day is None or duty is None:
        return None, c.errors
    return RosterRecord(day, shift, employee_no, seat or None, duty, floor or None), []


def _a(word: str) -> str:
    """``word`` with its indefinite article: a door, an exit_button."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def parse_point(file: str, row: Row) -> tuple[PointRecord | None, list[RowError]]:
    """A point row: id, kind and label (may be empty); optionally its gateway, and for a seat mat its seat.

    A seat point is named ``seat:<seat id>``; a ``seat`` cell, when given, must agree with that id.
    """
    c = _Cells(file, row)
    point = c.text("point")
    if point and not _POINT_ID.fullmatch(point):
        c.fail("point", f"{point!r} is not a point id; use 1 to 64 characters of A-Z a-z 0-9 : _ . -")
        point = ""
    kind = c.choice("kind", POINT_KINDS, "a point kind")
    label = c.text("label", required=False, max_len=MAX_LEN["label"])
    gateway = c.text("gateway", required=False)
    if gateway and not _GATEWAY_ID.fullmatch(gateway):
        c.fail("gateway", f"{gateway!r} is not a gateway id; use 1 to 64 characters of A-Z a-z 0-9 _ . -")
    seat = c.text("seat", required=False)
    if kind == "seat" and point:
        named = point[len(SEAT_POINT_PREFIX):] if point.startswith(SEAT_POINT_PREFIX) else ""
        if not named:
            c.fail("point", f"a seat point is named after its seat: use seat:{seat or '<seat id>'}, not {point}")
        elif seat and seat != named:
            c.fail("seat", f"seat {seat} does not match point {point}; a seat point is named seat:<its seat id>")
    elif seat and kind is not None:
        c.fail("seat", f"only a seat point belongs to a seat; leave seat empty for {_a(kind)} point")
    floor = c.text("floor", required=False)
    if c.errors or kind is None:
        return None, c.errors
    return PointRecord(point, kind, label, gateway or None, floor or None), []


_READER_SPLIT = re.compile(r"[\s,;，；]+")


def parse_door(file: str, row: Row) -> tuple[DoorRecord | None, list[RowError]]:
    """A door row: id, name and contact point; optionally exit button, readers, timings and plan position."""
    c = _Cells(file, row)
    door = c.text("door")
    if door and not _GATEWAY_ID.fullmatch(door):
        c.fail("door", f"{door!r} is not a door id; use 1 to 64 characters of A-Z a-z 0-9 _ . -")
    name = c.text("name", max_len=MAX_LEN["name"])
    contact = c.text("contact_point")
    exit_point = c.text("exit_point", required=False)
    for column, value in (("contact_point", contact), ("exit_point", exit_point)):
        if value and not _POINT_ID.fullmatch(value):
            c.fail(column, f"{value!r} is not a point id; use 1 to 64 characters of A-Z a-z 0-9 : _ . -")
    readers: tuple[str, ...] | None = None
    raw_readers = c.text("readers", required=False, max_len=MAX_LEN["readers"])
    if raw_readers:
        readers = tuple(dict.fromkeys(r for r in _READER_SPLIT.split(raw_readers) if r))
        bad = [r for r in readers if not _GATEWAY_ID.fullmatch(r)]
        if bad:
            c.fail("readers", f"{bad[0]!r} is not a reader id; use 1 to 64 characters of A-Z a-z 0-9 _ . -, "
                              f"several separated by commas")
    timings: dict[str, float | None] = {}
    for column in DOOR_TIMINGS:
        timings[column] = None
        if c.row.get(column):
            value = c.number(column)
            if math.isfinite(value) and value < 0:
                c.fail(column, f"{value:g} is negative; give seconds, 0 or more")
            elif math.isfinite(value):
                timings[column] = value
    if timings["alarm_s"] == 0:
        c.fail("alarm_s", "the held-open alarm needs a time above 0 seconds")
    x = c.number("x") if c.row.get("x") else None
    y = c.number("y") if c.row.get("y") else None
    if (x is None) != (y is None):
        c.fail("y" if y is None else "x", "give both x and y (the door's place on the plan), or neither")
    floor = c.text("floor", required=False)
    if c.errors:
        return None, c.errors
    return DoorRecord(door, name, contact, exit_point or None, readers, x=x, y=y, floor=floor or None, **timings), []


PARSERS = {"staff": parse_staff, "badges": parse_badge, "shifts": parse_shift, "roster": parse_roster,
           "seats": parse_seat, "points": parse_point, "doors": parse_door}


def _uid_key(row: Row) -> str | None:
    try:
        return normalize_uid(row.get("badge_uid"))
    except InvalidBadgeUid:
        return None


def _roster_key(row: Row) -> tuple[str, str, str] | None:
    key = (row.get("date"), row.get("shift"), row.get("employee_no"))
    return key if all(key) else None


# kind -> (column, the row's key or None, the message for a repeat). Keys are read from the cells,
# not from parsed records, so a repeat is reported even when the first row has other problems.
_KEYS: dict[str, tuple[str, Callable[[Row], object], Callable[..., str]]] = {
    "staff": ("employee_no", lambda r: r.get("employee_no") or None,
              lambda k, first: f"employee {k} is also on row {first}"),
    "badges": ("badge_uid", _uid_key, lambda k, first: f"badge UID {k} is also on row {first}"),
    "shifts": ("code", lambda r: r.get("code") or None, lambda k, first: f"shift {k} is also on row {first}"),
    "seats": ("seat", lambda r: r.get("seat") or None, lambda k, first: f"seat {k} is also on row {first}"),
    "points": ("point", lambda r: r.get("point") or None, lambda k, first: f"point {k} is also on row {first}"),
    "doors": ("door", lambda r: r.get("door") or None, lambda k, first: f"door {k} is also on row {first}"),
    "roster": ("employee_no", _roster_key,
               lambda k, first: f"employee {k[2]} is rostered twice on {k[0]} shift {k[1]} (also on row {first})"),
}


def parse_rows(kind: str, file: str, rows: Iterable[Row]) -> tuple[list[Line], list[RowError]]:
    """Check each row on its own and for a repeated key.

    Return the good rows as lines, one per key, and every problem found.
    """
    parse = PARSERS[kind]
    column, key_of, say = _KEYS[kind]
    first: dict[object, int] = {}
    lines: list[Line] = []
    errors: list[RowError] = []
    for row in rows:
        record, problems = parse(file, row)
        errors.extend(problems)
        key = key_of(row)
        if key is not None and key in first:
            errors.append(RowError(file, row.number, column, say(key, first[key])))
            continue
        if key is not None:
            first[key] = row.number
        if record is not None:
            lines.append(Line(row.number, record))
    return lines, errors


# --- the whole file against itself and the stored facts -------------------------------------------

def _diff(plan: Plan[T], record: T, stored: T | None) -> None:
    if stored is None:
        plan.new.append(record)
    elif record != stored:
        plan.changed.append(record)
    else:
        plan.unchanged += 1


def plan_staff(lines: Sequence[Line[StaffRecord]], stored: Mapping[str, StaffRecord]) -> Plan[StaffRecord]:
    """Upsert by employee number; people not in the file are left as they are (mark leavers 离职).

    Like every plan, it takes the lines ``parse_rows`` gives: one per key.
    """
    plan: Plan[StaffRecord] = Plan()
    for line in lines:
        old = stored.get(line.record.employee_no)
        record = line.record
        if record.active is None:
            record = replace(record, active=old.active if old else True)
        _diff(plan, record, old)
    return plan


def plan_badges(file: str, lines: Sequence[Line[BadgeRecord]], stored: Mapping[str, BadgeRecord],
                staff: Collection[str]) -> tuple[Plan[BadgeRecord], list[RowError]]:
    """Upsert by UID; a UID stays with its holder; one active badge per person once the file is applied.

    A person changing badges needs no second step: the file may mark the old badge lost, revoked
    or returned and list the new one as active, in any order.
    """
    errors: list[RowError] = []
    resolved: list[Line[BadgeRecord]] = []
    for line in lines:
        r = line.record
        old = stored.get(r.uid)
        if r.employee_no not in staff:
            errors.append(RowError(file, line.row, "employee_no", f"unknown employee {r.employee_no}"))
            continue
        if old is not None and old.employee_no != r.employee_no:
            errors.append(RowError(file, line.row, "badge_uid",
                                   f"badge UID {r.uid} belongs to employee {old.employee_no}"))
            continue
        r = replace(r, status=r.status or (old.status if old else "active"),
                    issued_on=r.issued_on or (old.issued_on if old else None))
        resolved.append(Line(line.row, r))

    # One active badge per person, judged on the state after the file: stored badges the file
    # does not mention keep their status.
    in_file = {line.record.uid for line in lines}
    active_elsewhere: dict[str, str] = {}
    for uid, b in stored.items():
        if b.status == "active" and uid not in in_file:
            active_elsewhere.setdefault(b.employee_no, uid)
    first_active: dict[str, int] = {}
    plan: Plan[BadgeRecord] = Plan()
    for line in resolved:
        r = line.record
        if r.status == "active":
            if r.employee_no in active_elsewhere:
                errors.append(RowError(
                    file, line.row, "status",
                    f"employee {r.employee_no} already has active badge {active_elsewhere[r.employee_no]}; "
                    f"mark it lost, revoked or returned first (a line in this file will do)"))
                continue
            if r.employee_no in first_active:
                errors.append(RowError(
                    file, line.row, "status",
                    f"employee {r.employee_no} already has an active badge on row {first_active[r.employee_no]}; "
                    f"only one may be active"))
                continue
            first_active[r.employee_no] = line.row
        _diff(plan, r, stored.get(r.uid))
    return plan, errors


def plan_shifts(lines: Sequence[Line[ShiftRecord]], stored: Mapping[str, ShiftRecord]) -> Plan[ShiftRecord]:
    """Upsert by code; shifts not in the file stay (rosters and roll calls refer to them)."""
    plan: Plan[ShiftRecord] = Plan()
    for line in lines:
        _diff(plan, line.record, stored.get(line.record.code))
    return plan


def plan_seats(lines: Sequence[Line[SeatRecord]], stored: Mapping[str, SeatRecord]) -> Plan[SeatRecord]:
    """Upsert by seat id; seats not in the file stay (rosters refer to them)."""
    plan: Plan[SeatRecord] = Plan()
    for line in lines:
        _diff(plan, line.record, stored.get(line.record.seat))
    return plan


def new_zones(plan: Plan[SeatRecord], zones: Collection[str]) -> list[str]:
    """Zones the seats name that do not exist yet, in the order first named; each is created named after its id."""
    return list(dict.fromkeys(s.zone for s in plan.new + plan.changed if s.zone not in zones))


def plan_points(file: str, lines: Sequence[Line[PointRecord]], stored: Mapping[str, PointRecord],
                seats: Collection[str]) -> tuple[Plan[PointRecord], list[RowError]]:
    """Upsert definitions by point id; points not in the file stay (their events refer to them).

    A point keeps its kind for life: its stored events are states of that kind (a door's open and
    closed are not a seat's occupied and vacant). A gateway left empty keeps the one bound already.
    """
    errors: list[RowError] = []
    plan: Plan[PointRecord] = Plan()
    for line in lines:
        r = line.record
        old = stored.get(r.point)
        bad = False
        if old is not None and old.kind != r.kind:
            errors.append(RowError(
                file, line.row, "kind",
                f"point {r.point} is {_a(old.kind)} point and cannot become {_a(r.kind)} point, because its "
                f"recorded history is of {old.kind} states; define the {r.kind} point under another id"))
            bad = True
        if r.seat is not None and r.seat not in seats:
            errors.append(RowError(file, line.row, "point",
                                   f"unknown seat {r.seat}: a seat point needs its seat imported first"))
            bad = True
        if bad:
            continue
        if r.gateway is None and old is not None:
            r = replace(r, gateway=old.gateway)
        _diff(plan, r, old)
    return plan, errors


def plan_doors(file: str, lines: Sequence[Line[DoorRecord]], stored: Mapping[str, DoorRecord],
               points: Mapping[str, str]) -> tuple[Plan[DoorRecord], list[RowError]]:
    """Upsert doors by id; doors not in the file stay (their alerts and log rows refer to them).

    ``points`` maps every defined point id to its kind. The contact must be a defined ``door`` point and the
    exit button an ``exit_button`` point; after the file is applied, no contact point serves two doors and no
    badge reader stands at two doors. Values not given keep the stored door's, or take the defaults.
    """
    errors: list[RowError] = []
    resolved: list[Line[DoorRecord]] = []
    for line in lines:
        r = line.record
        old = stored.get(r.door)
        bad = False
        for column, point, kind in (("contact_point", r.contact_point, "door"), ("exit_point", r.exit_point,
                                                                                   "exit_button")):
            if point is None:
                continue
            if point not in points:
                errors.append(RowError(file, line.row, column, f"unknown point {point}: import it with "
                                                               f"`kiosk import points` first"))
                bad = True
            elif points[point] != kind:
                errors.append(RowError(file, line.row, column, f"point {point} is {_a(points[point])} point, "
                                                               f"not {_a(kind)} point"))
                bad = True
        filled = {k: getattr(r, k) if getattr(r, k) is not None else
                  (getattr(old, k) if old is not None else DOOR_DEFAULTS[k]) for k in DOOR_TIMINGS}
        record = replace(
            r, exit_point=r.exit_point if r.exit_point is not None else (old.exit_point if old else None),
            readers=r.readers if r.readers is not None else (old.readers if old else ()),
            x=r.x if r.x is not None else (old.x if old else None),
            y=r.y if r.y is not None else (old.y if old else None), **filled)
        if record.alarm_s is not None and record.alarm_s <= 0:
            errors.append(RowError(file, line.row, "alarm_s", "the held-open alarm needs a time above 0 seconds"))
            bad = True
        if not bad:
            resolved.append(Line(line.row, record))

    # One door per contact point and per reader, judged on the doors after the file. What a stored door keeps
    # (the file leaves it out, or names it with the same contact or reader) is its first: a newcomer clashes.
    in_file = {line.record.door: line for line in resolved}
    named = {line.record.door for line in lines}
    contact_of: dict[str, tuple[str, int | None]] = {}
    reader_of: dict[str, tuple[str, int | None]] = {}
    for door_id, d in stored.items():
        mine = in_file.get(door_id)
        if door_id in named and mine is None:
            continue  # its row has other errors: it says nothing about what the door will have
        row = mine.row if mine else None
        if mine is None or mine.record.contact_point == d.contact_point:
            contact_of[d.contact_point] = (door_id, row)
        for reader in d.readers or ():
            if mine is None or reader in (mine.record.readers or ()):
                reader_of[reader] = (door_id, row)
    plan: Plan[DoorRecord] = Plan()
    for line in resolved:
        r = line.record
        clash = False
        other = contact_of.setdefault(r.contact_point, (r.door, line.row))
        if other[0] != r.door:
            where = f" on row {other[1]}" if other[1] else ""
            errors.append(RowError(file, line.row, "contact_point",
                                   f"contact point {r.contact_point} is door {other[0]}'s{where}"))
            clash = True
        for reader in r.readers or ():
            other = reader_of.setdefault(reader, (r.door, line.row))
            if other[0] != r.door:
                where = f" on row {other[1]}" if other[1] else ""
                errors.append(RowError(file, line.row, "readers",
                                       f"reader {reader} stands at door {other[0]}{where}"))
                clash = True
        if not clash:
            _diff(plan, r, stored.get(r.door))
    return plan, errors


def plan_roster(file: str, lines: Sequence[Line[RosterRecord]], stored: Iterable[RosterRecord],
                staff: Collection[str], shifts: Collection[str],
                seats: Collection[str]) -> tuple[Plan[RosterRecord], list[RowError]]:
    """The file is the whole truth for every date and shift it mentions: lines missing from it are removed.

    ``stored`` may hold more than those dates and shifts; lines of others are left alone.
    """
    errors: list[RowError] = []
    known: list[Line[RosterRecord]] = []
    for line in lines:
        r = line.record
        bad = False
        if r.shift not in shifts:
            errors.append(RowError(file, line.row, "shift", f"unknown shift {r.shift}"))
            bad = True
        if r.employee_no not in staff:
            errors.append(RowError(file, line.row, "employee_no", f"unknown employee {r.employee_no}"))
            bad = True
        if r.seat is not None and r.seat not in seats:
            errors.append(RowError(file, line.row, "seat", f"unknown seat {r.seat}"))
            bad = True
        if not bad:
            known.append(line)
    seat_taken: dict[tuple[date, str, str], Line[RosterRecord]] = {}
    for line in known:
        r = line.record
        if r.seat is None:
            continue
        other = seat_taken.setdefault((r.day, r.shift, r.seat), line)
        if other is not line:
            errors.append(RowError(file, line.row, "seat",
                                   f"seat {r.seat} is also given to employee {other.record.employee_no} "
                                   f"on row {other.row} ({r.day} shift {r.shift})"))

    pairs = {(line.record.day, line.record.shift) for line in lines}
    before = {r.key: r for r in stored if (r.day, r.shift) in pairs}
    plan: Plan[RosterRecord] = Plan()
    for line in known:
        _diff(plan, line.record, before.pop(line.record.key, None))
    plan.removed = sorted(before.values(), key=lambda r: (r.day, r.shift, r.employee_no))
    return plan, errors


# --- floors -----------------------------------------------------------------------------------------------

Implied = Callable[[object], tuple[int | None, str]]  # a record -> (the floor what it refers to is on, what that is)


def assign_floors(file: str, lines: Sequence[Line[T]], floors: Mapping[str, int], implied: Implied,
                  kept: Callable[[object], int | None]) -> tuple[list[Line[T]], list[RowError]]:
    """Put each line on a floor (kiosk.domain.floors.resolve): the ``floor`` it names, which must agree with
    the floor of what it refers to; else that floor; else the stored row's (``kept``); else the only floor.

    Lines come back with their ``floor`` set to the floor's code; a line that cannot be placed is an error
    in its ``floor`` column and is left out.
    """
    code_of = {i: c for c, i in floors.items()}
    out: list[Line[T]] = []
    errors: list[RowError] = []
    for line in lines:
        record = line.record
        floor_id, what = implied(record)
        try:
            chosen = floor_rules.resolve(getattr(record, "floor"), floor_id, kept(record), floors, what)
        except floor_rules.FloorProblem as exc:
            errors.append(RowError(file, line.row, "floor", str(exc)))
            continue
        out.append(Line(line.row, replace(record, floor=code_of[chosen])))  # type: ignore[type-var]
    return out, errors


def assign_seat_floors(file: str, lines: Sequence[Line[SeatRecord]], floors: Mapping[str, int],
                       zone_floors: Mapping[str, int]) -> tuple[list[Line[SeatRecord]], dict[str, int], list[RowError]]:
    """Seats are on their zone's floor: a stored zone's, or for a zone this file creates, the floor its first
    row puts it on (later rows of that zone agree with it). Returns the lines, the new zones' floors, errors."""
    known = dict(zone_floors)
    new: dict[str, int] = {}
    placed: list[Line[SeatRecord]] = []
    errors: list[RowError] = []
    for line in lines:
        done, problems = assign_floors(file, [line], floors,
                                       lambda r: (known.get(r.zone), f"zone {r.zone}"),  # type: ignore[attr-defined]
                                       lambda r: None)
        errors += problems
        for d in done:
            if d.record.zone not in known:
                known[d.record.zone] = new[d.record.zone] = floors[d.record.floor]  # type: ignore[index]
            placed.append(d)
    return placed, new, errors


def ordered(errors: Iterable[RowError], spec: Columns) -> list[RowError]:
    """Errors by row, then by column as the kind lists them, as someone fixing the file goes through it."""
    rank = {col: i for i, col in enumerate(spec.known)}
    return sorted(errors, key=lambda e: (e.row, rank.get(e.column, -1)))
