"""Floor data in and out: staff, badges, shifts, roster, seats, sensor points and doors from CSV or XLSX files,
and back.

Load → rule → save: this module reads the file (CSV as UTF-8, UTF-8 with BOM or GBK; XLSX with
openpyxl), bulk-loads what the database already holds, asks ``kiosk.domain.imports`` what is wrong
and what would change, and — only when the whole file is valid — writes the differences and one
``import_applied`` event in a single transaction. A refused import writes nothing but an
``import_refused`` event. Exports write the same columns, so export → import changes nothing.

A points import writes definitions only (kind, label, gateway): the live state of a point is the
gateways' to report, so new points start ``unknown`` and existing ones keep theirs. A doors import likewise
writes a door's definition and its place on the floor plan, never its rule state (open, alarms raised).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from kiosk.domain import imports as rules
from kiosk.domain.imports import FILE_LEVEL, Line, Plan, RowError
from kiosk.services.context import ServiceContext
from kiosk.services.errors import ServiceError, StorageUnavailable
from kiosk.store.eventlog import log_event
from kiosk.store.models import Badge, Door, Floor, Point, RosterEntry, Seat, Shift, Staff, Zone

logger = logging.getLogger(__name__)

_staff, _badges, _shifts = Staff.__table__, Badge.__table__, Shift.__table__
_zones, _seats, _roster = Zone.__table__, Seat.__table__, RosterEntry.__table__
_points, _doors, _floors = Point.__table__, Door.__table__, Floor.__table__

KINDS = rules.KINDS
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls


@dataclass
class ImportResult:
    """What an import found and did (or, on a dry run, would do)."""

    kind: str
    file: str
    dry_run: bool = False
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    zones_created: int = 0
    encoding: str = ""
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file was valid (and, unless a dry run, applied)."""
        return not self.errors

    def summary(self) -> str:
        """One line for people: rows, new, changed, unchanged (and removed for a roster)."""
        if self.errors:
            return f"{self.kind}: {self.rows} rows, {len(self.errors)} error(s); nothing written"
        parts = [f"{self.rows} rows", f"{self.new} new", f"{self.changed} changed", f"{self.unchanged} unchanged"]
        if self.kind == "roster":
            parts.append(f"{self.removed} removed")
        if self.zones_created:
            parts.append(f"{self.zones_created} new zone{'s' if self.zones_created != 1 else ''}")
        return f"{self.kind}: " + ", ".join(parts) + (" (dry run: nothing written)" if self.dry_run else "")


# --- reading files --------------------------------------------------------------------------------

class _Unreadable(Exception):
    """The file cannot be read as a table at all."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row, self.message = row, message


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _mostly_utf8(data: bytes) -> bool:
    """True for UTF-8 text with a few broken bytes, which must not be misread as GBK mojibake."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return good > 0 and good >= 2 * bad


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and its encoding: UTF-8 (BOM or not), else GBK (read as GB18030); UTF-16 with a BOM.

    Chinese offices' Excel saves "CSV" in GBK; "CSV UTF-8" adds a BOM; "Unicode text" is UTF-16.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise _Unreadable(1, "the file starts like UTF-16 text but is not; save it as CSV UTF-8 or XLSX") from None
    if b"\x00" in data:
        raise _Unreadable(1, "this is not a text file (it holds NUL bytes); save it as CSV UTF-8 or XLSX")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if _mostly_utf8(data):
        line = _line_of(data, utf8_error.start)
        raise _Unreadable(line, f"line {line} is not valid UTF-8 (the rest of the file is); "
                                f"fix or retype that line, or save the file again as CSV UTF-8")
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise _Unreadable(line, f"cannot decode line {line}: the file is neither UTF-8 nor GBK (GB18030) text; "
                                f"save it as CSV UTF-8 or XLSX") from None


def _csv_cells(text: str) -> list[list[str]]:
    """Rows of a CSV text; the separator is a comma unless the header uses tabs or semicolons."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = "," if "," in first else "\t" if "\t" in first else ";" if ";" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # One record per spreadsheet row, blank lines included, so row numbers match Excel's.
        return list(reader)
    except csv.Error as exc:
        raise _Unreadable(reader.line_num or 1, f"not a readable CSV file: {exc}") from None


def _xlsx_cells(fh: Any) -> list[tuple[object, ...]]:
    """Rows of the first worksheet, from row 1 (openpyxl fills in empty rows), values only."""
    try:
        wb = load_workbook(fh, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, KeyError) for a damaged workbook
        raise _Unreadable(1, f"cannot open the file as an XLSX workbook: {exc or type(exc).__name__}") from None
    try:
        if not wb.worksheets:
            raise _Unreadable(1, "the workbook has no worksheet")
        ws = wb.worksheets[0]
        # Some programs write a wrong sheet size; without this, read-only mode would cut rows off.
        ws.reset_dimensions()
        return [tuple(row) for row in ws.iter_rows(values_only=True)]
    except _Unreadable:
        raise
    except Exception as exc:
        raise _Unreadable(1, f"cannot read the XLSX workbook: {exc or type(exc).__name__}") from None
    finally:
        wb.close()


def read_cells(path: Path) -> tuple[list[Sequence[object]], str]:
    """The raw rows of a CSV or XLSX file and how it was read; raise _Unreadable when it cannot be."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Unreadable(1, f"cannot read the file: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".xls" or data.startswith(_OLE_MAGIC):
        raise _Unreadable(1, "this is an old Excel .xls workbook; save it as .xlsx or CSV UTF-8")
    if path.suffix.lower() in XLSX_SUFFIXES or data.startswith(_ZIP_MAGIC):
        # A workbook saved under a .csv name is still read as the workbook it is.
        return list(_xlsx_cells(io.BytesIO(data))), "xlsx"
    text, encoding = decode_text(data)
    return list(_csv_cells(text)), encoding


# --- what is stored -------------------------------------------------------------------------------

def _staff_ids(conn: Connection) -> dict[str, int]:
    return {r.employee_no: r.id for r in conn.execute(select(_staff.c.id, _staff.c.employee_no))}


def _stored_staff(conn: Connection) -> dict[str, rules.StaffRecord]:
    rows = conn.execute(select(_staff.c.employee_no, _staff.c.name, _staff.c.role, _staff.c.post_level,
                               _staff.c.skill_grade, _staff.c.active))
    return {r.employee_no: rules.StaffRecord(r.employee_no, r.name, r.role, r.post_level or "",
                                             r.skill_grade or "", bool(r.active)) for r in rows}


def _stored_badges(conn: Connection) -> dict[str, rules.BadgeRecord]:
    rows = conn.execute(select(_badges.c.uid, _staff.c.employee_no, _badges.c.status, _badges.c.issued_on)
                        .join(_staff, _staff.c.id == _badges.c.staff_id))
    return {r.uid: rules.BadgeRecord(r.uid, r.employee_no, r.status, r.issued_on) for r in rows}


def _stored_shifts(conn: Connection) -> dict[str, rules.ShiftRecord]:
    rows = conn.execute(select(_shifts.c.code, _shifts.c.name, _shifts.c.start, _shifts.c.end))
    return {r.code: rules.ShiftRecord(r.code, r.name, r.start, r.end) for r in rows}


def _floor_codes(conn: Connection) -> dict[str, int]:
    """Floor code -> id, in the centre's order."""
    return {r.code: r.id for r in conn.execute(select(_floors.c.id, _floors.c.code)
                                               .order_by(_floors.c.sort_order, _floors.c.id))}


def _code_of(conn: Connection) -> dict[int, str]:
    return {i: c for c, i in _floor_codes(conn).items()}


def _zone_floors(conn: Connection) -> dict[str, int]:
    return {r.id: r.floor_id for r in conn.execute(select(_zones.c.id, _zones.c.floor_id))}


def _seat_floors(conn: Connection) -> dict[str, int]:
    return {r.id: r.floor_id for r in conn.execute(select(_seats.c.id, _zones.c.floor_id)
                                                   .join(_zones, _zones.c.id == _seats.c.zone_id))}


def _stored_seats(conn: Connection) -> dict[str, rules.SeatRecord]:
    codes = _code_of(conn)
    rows = conn.execute(select(_seats.c.id, _seats.c.zone_id, _seats.c.x, _seats.c.y, _zones.c.floor_id)
                        .join(_zones, _zones.c.id == _seats.c.zone_id))
    return {r.id: rules.SeatRecord(r.id, r.zone_id, float(r.x), float(r.y), codes.get(r.floor_id)) for r in rows}


def _stored_points(conn: Connection) -> dict[str, rules.PointRecord]:
    codes = _code_of(conn)
    rows = conn.execute(select(_points.c.id, _points.c.kind, _points.c.label, _points.c.gateway_id,
                               _points.c.floor_id))
    return {r.id: rules.PointRecord(r.id, r.kind, r.label or "", r.gateway_id or None, codes.get(r.floor_id))
            for r in rows}


def _door_record(r: Any, codes: dict[int, str]) -> rules.DoorRecord:
    readers = tuple(x.strip() for x in (r.readers or "").split(",") if x.strip())
    return rules.DoorRecord(r.id, r.name, r.contact_point, r.exit_point or None, readers, float(r.prewarn_s),
                            float(r.alarm_s), float(r.entry_window_s), float(r.tailgate_s),
                            None if r.x is None else float(r.x), None if r.y is None else float(r.y),
                            codes.get(r.floor_id))


def _stored_doors(conn: Connection) -> dict[str, rules.DoorRecord]:
    codes = _code_of(conn)
    return {r.id: _door_record(r, codes) for r in conn.execute(select(_doors))}


def _stored_roster(conn: Connection, first: date,
                   last: date) -> dict[tuple[date, str, str], tuple[int, rules.RosterRecord]]:
    codes = _code_of(conn)
    rows = conn.execute(
        select(_roster.c.id, _roster.c.day, _roster.c.shift_code, _staff.c.employee_no, _roster.c.seat_id,
               _roster.c.duty, _roster.c.floor_id)
        .join(_staff, _staff.c.id == _roster.c.staff_id).where(_roster.c.day.between(first, last)))
    out = {}
    for r in rows:
        record = rules.RosterRecord(r.day, r.shift_code, r.employee_no, r.seat_id, r.duty, codes.get(r.floor_id))
        out[record.key] = (r.id, record)
    return out


# --- checking and writing, kind by kind -----------------------------------------------------------

@dataclass
class _Checked:
    """A plan, the errors found making it, and what writing it needs to know."""

    plan: Plan[Any]
    errors: list[RowError]
    zones: list[str] = field(default_factory=list)  # seats: zones to create
    zone_floors: dict[str, int] = field(default_factory=dict)  # seats: the floor of each zone to create
    floors: dict[str, int] = field(default_factory=dict)  # floor code -> id
    stored: Mapping[Any, Any] = field(default_factory=dict)  # what the plan was compared with


def _check_staff(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    return _Checked(rules.plan_staff(lines, _stored_staff(conn)), [])


def _check_badges(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    stored = _stored_badges(conn)
    plan, errors = rules.plan_badges(file, lines, stored, _staff_ids(conn).keys())
    return _Checked(plan, errors, stored=stored)


def _check_shifts(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    return _Checked(rules.plan_shifts(lines, _stored_shifts(conn)), [])


def _check_seats(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    floors, zone_floors = _floor_codes(conn), _zone_floors(conn)
    lines, new_zone_floors, errors = rules.assign_seat_floors(file, lines, floors, zone_floors)
    plan = rules.plan_seats(lines, _stored_seats(conn))
    return _Checked(plan, errors, zones=rules.new_zones(plan, set(zone_floors)), zone_floors=new_zone_floors,
                    floors=floors)


def _check_points(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    floors, seat_floors, stored = _floor_codes(conn), _seat_floors(conn), _stored_points(conn)
    lines, floor_errors = rules.assign_floors(
        file, lines, floors, lambda r: (seat_floors.get(r.seat), f"seat {r.seat}"),  # type: ignore[attr-defined]
        lambda r: floors.get(stored[r.point].floor) if r.point in stored else None)  # type: ignore[attr-defined]
    plan, errors = rules.plan_points(file, lines, stored, set(seat_floors))
    return _Checked(plan, floor_errors + errors, floors=floors)


def _check_doors(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    floors, stored = _floor_codes(conn), _stored_doors(conn)
    point_rows = conn.execute(select(_points.c.id, _points.c.kind, _points.c.floor_id)).all()
    points = {r.id: r.kind for r in point_rows}
    point_floors = {r.id: r.floor_id for r in point_rows}
    lines, floor_errors = rules.assign_floors(
        file, lines, floors,
        lambda r: (point_floors.get(r.contact_point), f"contact point {r.contact_point}"),  # type: ignore[attr-defined]
        lambda r: floors.get(stored[r.door].floor) if r.door in stored else None)  # type: ignore[attr-defined]
    plan, errors = rules.plan_doors(file, lines, stored, points)
    return _Checked(plan, floor_errors + errors, floors=floors)


def _check_roster(conn: Connection, file: str, lines: list[Line[Any]]) -> _Checked:
    days = [line.record.day for line in lines]
    stored = _stored_roster(conn, min(days), max(days)) if days else {}
    floors, seat_floors = _floor_codes(conn), _seat_floors(conn)
    placed, floor_errors = rules.assign_floors(
        file, lines, floors, lambda r: (seat_floors.get(r.seat), f"seat {r.seat}"),  # type: ignore[attr-defined]
        lambda r: floors.get(stored[r.key][1].floor) if r.key in stored else None)  # type: ignore[attr-defined]
    # A line that cannot be placed on a floor is still the file's line for its date and shift: keep it out of
    # the plan without having it taken for a removal (the errors refuse the whole file anyway).
    placed_rows = {line.row for line in placed}
    lines = [line for line in placed] + [line for line in lines if line.row not in placed_rows]
    plan, errors = rules.plan_roster(
        file, lines, [record for _id, record in stored.values()], _staff_ids(conn).keys(),
        set(conn.execute(select(_shifts.c.code)).scalars()), set(seat_floors))
    return _Checked(plan, floor_errors + errors, stored=stored, floors=floors)


def _write_staff(conn: Connection, checked: _Checked, today: date) -> None:
    plan = checked.plan
    if plan.new:
        conn.execute(insert(_staff), [vars(r) for r in plan.new])
    if plan.changed:
        cols = ("name", "role", "post_level", "skill_grade", "active")
        conn.execute(update(_staff).where(_staff.c.employee_no == bindparam("b_employee_no"))
                     .values({c: bindparam(f"b_{c}") for c in cols}),
                     [{f"b_{k}": v for k, v in vars(r).items()} for r in plan.changed])


def _write_badges(conn: Connection, checked: _Checked, today: date) -> None:
    plan, stored = checked.plan, checked.stored
    staff_ids = _staff_ids(conn)
    stmt = update(_badges).where(_badges.c.uid == bindparam("b_uid"))
    # The partial unique index allows one active badge per person at every moment, so badges
    # leave "active" before others enter it; a badge leaving it records the day.
    leaving = [r for r in plan.changed if r.status != "active" and stored[r.uid].status == "active"]
    other = [r for r in plan.changed if r.status != "active" and stored[r.uid].status != "active"]
    entering = [r for r in plan.changed if r.status == "active"]
    if leaving:
        conn.execute(stmt.values(status=bindparam("b_status"), issued_on=bindparam("b_issued_on"), revoked_on=today),
                     [{"b_uid": r.uid, "b_status": r.status, "b_issued_on": r.issued_on} for r in leaving])
    if other:
        conn.execute(stmt.values(status=bindparam("b_status"), issued_on=bindparam("b_issued_on")),
                     [{"b_uid": r.uid, "b_status": r.status, "b_issued_on": r.issued_on} for r in other])
    if entering:
        conn.execute(stmt.values(status="active", issued_on=bindparam("b_issued_on"), revoked_on=None),
                     [{"b_uid": r.uid, "b_issued_on": r.issued_on} for r in entering])
    if plan.new:
        conn.execute(insert(_badges), [{"uid": r.uid, "staff_id": staff_ids[r.employee_no], "status": r.status,
                                        "issued_on": r.issued_on} for r in plan.new])


def _write_shifts(conn: Connection, checked: _Checked, today: date) -> None:
    plan = checked.plan
    if plan.new:
        conn.execute(insert(_shifts), [vars(r) for r in plan.new])
    if plan.changed:
        conn.execute(update(_shifts).where(_shifts.c.code == bindparam("b_code"))
                     .values(name=bindparam("b_name"), start=bindparam("b_start"), end=bindparam("b_end")),
                     [{f"b_{k}": v for k, v in vars(r).items()} for r in plan.changed])


def _write_seats(conn: Connection, checked: _Checked, today: date) -> None:
    plan = checked.plan
    if checked.zones:
        conn.execute(insert(_zones), [{"id": z, "name": z, "floor_id": checked.zone_floors[z]} for z in checked.zones])
    if plan.new:
        conn.execute(insert(_seats), [{"id": r.seat, "zone_id": r.zone, "x": r.x, "y": r.y} for r in plan.new])
    if plan.changed:
        conn.execute(update(_seats).where(_seats.c.id == bindparam("b_id"))
                     .values(zone_id=bindparam("b_zone"), x=bindparam("b_x"), y=bindparam("b_y")),
                     [{"b_id": r.seat, "b_zone": r.zone, "b_x": r.x, "b_y": r.y} for r in plan.changed])


def _write_points(conn: Connection, checked: _Checked, today: date) -> None:
    plan = checked.plan
    # Definitions only: state, changed_at and reconciled are the gateways' (services.sensors.ingest).
    floors = checked.floors
    if plan.new:
        conn.execute(insert(_points), [{"id": r.point, "kind": r.kind, "label": r.label, "gateway_id": r.gateway,
                                        "state": "unknown", "changed_at": None, "reconciled": False,
                                        "floor_id": floors[r.floor]} for r in plan.new])
    if plan.changed:
        # The kind is not written: the rules refuse a change of kind.
        conn.execute(update(_points).where(_points.c.id == bindparam("b_id"))
                     .values(label=bindparam("b_label"), gateway_id=bindparam("b_gateway"),
                             floor_id=bindparam("b_floor")),
                     [{"b_id": r.point, "b_label": r.label, "b_gateway": r.gateway, "b_floor": floors[r.floor]}
                      for r in plan.changed])


def _door_values(r: rules.DoorRecord, floors: dict[str, int]) -> dict[str, Any]:
    return {"name": r.name, "contact_point": r.contact_point, "exit_point": r.exit_point,
            "readers": ",".join(r.readers or ()), "prewarn_s": r.prewarn_s, "alarm_s": r.alarm_s,
            "entry_window_s": r.entry_window_s, "tailgate_s": r.tailgate_s, "x": r.x, "y": r.y,
            "floor_id": floors[r.floor] if r.floor else None}


def _write_doors(conn: Connection, checked: _Checked, today: date) -> None:
    plan, floors = checked.plan, checked.floors
    # Definitions only: the door's rule state (open, alarms raised) is the sensors' and stays as it is.
    if plan.new:
        conn.execute(insert(_doors), [{"id": r.door, "state": "", **_door_values(r, floors)} for r in plan.new])
    if plan.changed:
        cols = tuple(_door_values(plan.changed[0], floors))
        conn.execute(update(_doors).where(_doors.c.id == bindparam("b_id"))
                     .values({c: bindparam(f"b_{c}") for c in cols}),
                     [{"b_id": r.door, **{f"b_{k}": v for k, v in _door_values(r, floors).items()}}
                      for r in plan.changed])


def _write_roster(conn: Connection, checked: _Checked, today: date) -> None:
    plan, stored, floors = checked.plan, checked.stored, checked.floors
    staff_ids = _staff_ids(conn)
    if plan.removed:
        conn.execute(delete(_roster).where(_roster.c.id == bindparam("b_id")),
                     [{"b_id": stored[r.key][0]} for r in plan.removed])
    if plan.changed:
        conn.execute(update(_roster).where(_roster.c.id == bindparam("b_id"))
                     .values(seat_id=bindparam("b_seat"), duty=bindparam("b_duty"), floor_id=bindparam("b_floor")),
                     [{"b_id": stored[r.key][0], "b_seat": r.seat, "b_duty": r.duty, "b_floor": floors[r.floor]}
                      for r in plan.changed])
    if plan.new:
        conn.execute(insert(_roster), [{"day": r.day, "shift_code": r.shift, "staff_id": staff_ids[r.employee_no],
                                        "seat_id": r.seat, "duty": r.duty, "floor_id": floors[r.floor]}
                                       for r in plan.new])


_CHECK: dict[str, Callable[[Connection, str, list[Line[Any]]], _Checked]] = {
    "staff": _check_staff, "badges": _check_badges, "shifts": _check_shifts, "roster": _check_roster,
    "seats": _check_seats, "points": _check_points, "doors": _check_doors}
_WRITE: dict[str, Callable[[Connection, _Checked, date], None]] = {
    "staff": _write_staff, "badges": _write_badges, "shifts": _write_shifts, "roster": _write_roster,
    "seats": _write_seats, "points": _write_points, "doors": _write_doors}


def import_file(ctx: ServiceContext, kind: str, path: str | os.PathLike[str], dry_run: bool = False,
                actor: str = "cli") -> ImportResult:
    """Check a whole file and, if every row is valid and this is not a dry run, apply it in one transaction.

    Re-importing the same file changes nothing: only differences are written.
    """
    if kind not in rules.SPECS:
        raise ValueError(f"unknown import kind {kind!r}; use one of {', '.join(KINDS)}")
    path = Path(path)
    spec = rules.SPECS[kind]
    result = ImportResult(kind, path.name, dry_run=dry_run)
    errors: list[RowError] = []
    rows: list[rules.Row] = []
    try:
        cells, result.encoding = read_cells(path)
        rows, errors = rules.read_rows(path.name, cells, spec)
    except _Unreadable as exc:
        errors = [RowError(path.name, exc.row, FILE_LEVEL, exc.message)]
    try:
        if not errors:
            result.rows = len(rows)
            lines, errors = rules.parse_rows(kind, path.name, rows)
            with ctx.engine.begin() as conn:
                checked = _CHECK[kind](conn, path.name, lines)
                errors = rules.ordered(errors + checked.errors, spec)
                plan = checked.plan
                if not errors:
                    result.new, result.changed = len(plan.new), len(plan.changed)
                    result.unchanged, result.removed = plan.unchanged, len(plan.removed)
                    result.zones_created = len(checked.zones)
                if not errors and not dry_run:
                    _WRITE[kind](conn, checked, ctx.now().astimezone(ctx.tz).date())
                    log_event(conn, at=ctx.now(), kind="import_applied", actor=actor, subject=kind, outcome="ok",
                              data={"file": path.name, "new": result.new, "changed": result.changed,
                                    "removed": result.removed})
        result.errors = errors
        if errors and not dry_run:
            with ctx.engine.begin() as conn:
                log_event(conn, at=ctx.now(), kind="import_refused", actor=actor, subject=kind,
                          outcome="refused", reason=f"{len(errors)} error(s)",
                          data={"file": path.name, "errors": len(errors)})
    except OperationalError as exc:
        logger.error("import %s from %s: database refused: %s", kind, path.name, exc)
        raise StorageUnavailable("storage_unavailable",
                                 f"the database refused the import ({exc.orig}); nothing was written") from exc
    except IntegrityError as exc:
        # Only a concurrent change between checking and writing gets here: the check saw other data.
        logger.error("import %s from %s: conflicting change: %s", kind, path.name, exc)
        raise ServiceError("import_conflict", "the data changed while importing; nothing was written, "
                                              "run the import again") from exc
    logger.info("import %s from %s by %s: %s", kind, path.name, actor, result.summary())
    return result


# --- exports --------------------------------------------------------------------------------------

def _export_staff(conn: Connection) -> list[tuple[object, ...]]:
    rows = conn.execute(select(_staff.c.employee_no, _staff.c.name, _staff.c.role, _staff.c.post_level,
                               _staff.c.skill_grade, _staff.c.active).order_by(_staff.c.employee_no))
    return [(r.employee_no, r.name, r.role, r.post_level, r.skill_grade, "yes" if r.active else "no") for r in rows]


def _export_badges(conn: Connection) -> list[tuple[object, ...]]:
    rows = conn.execute(select(_badges.c.uid, _staff.c.employee_no, _badges.c.status, _badges.c.issued_on)
                        .join(_staff, _staff.c.id == _badges.c.staff_id)
                        .order_by(_staff.c.employee_no, _badges.c.issued_on, _badges.c.uid))
    return [tuple(r) for r in rows]


def _export_shifts(conn: Connection) -> list[tuple[object, ...]]:
    rows = conn.execute(select(_shifts.c.code, _shifts.c.name, _shifts.c.start, _shifts.c.end)
                        .order_by(_shifts.c.start, _shifts.c.code))
    return [tuple(r) for r in rows]


def _export_roster(conn: Connection) -> list[tuple[object, ...]]:
    codes = _code_of(conn)
    rows = conn.execute(select(_roster.c.day, _roster.c.shift_code, _staff.c.employee_no, _roster.c.seat_id,
                               _roster.c.duty, _roster.c.floor_id).join(_staff, _staff.c.id == _roster.c.staff_id)
                        .order_by(_roster.c.day, _roster.c.shift_code, _roster.c.duty, _roster.c.seat_id,
                                  _staff.c.employee_no))
    return [(r.day, r.shift_code, r.employee_no, r.seat_id, r.duty, codes.get(r.floor_id, "")) for r in rows]


def _export_seats(conn: Connection) -> list[tuple[object, ...]]:
    return [(r.seat, r.zone, r.x, r.y, r.floor or "") for _id, r in sorted(_stored_seats(conn).items())]


def _export_points(conn: Connection) -> list[tuple[object, ...]]:
    return [(r.point, r.kind, r.label, r.gateway or "", r.seat or "", r.floor or "")
            for _id, r in sorted(_stored_points(conn).items())]


def _export_doors(conn: Connection) -> list[tuple[object, ...]]:
    codes = _code_of(conn)
    out = []
    for r in conn.execute(select(_doors).order_by(_doors.c.id)):
        d = _door_record(r, codes)
        out.append((d.door, d.name, d.contact_point, d.exit_point or "", ",".join(d.readers or ()), d.prewarn_s,
                    d.alarm_s, d.entry_window_s, d.tailgate_s, "" if d.x is None else d.x, "" if d.y is None else d.y,
                    d.floor or ""))
    return out


_EXPORT: dict[str, Callable[[Connection], list[tuple[object, ...]]]] = {
    "staff": _export_staff, "badges": _export_badges, "shifts": _export_shifts, "roster": _export_roster,
    "seats": _export_seats, "points": _export_points, "doors": _export_doors}


def _write_table(path: Path, title: str, header: Sequence[str], rows: list[tuple[object, ...]]) -> None:
    """CSV (UTF-8 with BOM, so Excel shows Chinese right) or XLSX by extension, replacing ``path`` whole."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ValueError("cannot write the old .xls format; name the file .xlsx or .csv")
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        if suffix in XLSX_SUFFIXES:
            wb = Workbook(write_only=True)
            ws = wb.create_sheet(title)
            ws.append(list(header))
            for row in rows:
                ws.append([_xlsx_value(ws, v) for v in row])
            wb.save(partial)
        else:
            with partial.open("w", encoding="utf-8-sig", newline="") as fh:
                _write_csv(fh, header, rows)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_csv(out: TextIO, header: Sequence[str], rows: list[tuple[object, ...]]) -> None:
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([rules.cell_text(v) for v in row] for row in rows)


def _xlsx_value(ws: Any, value: object) -> object:
    """A cell value for a write-only sheet; text that starts with "=" stays text, not a formula."""
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def export_file(ctx: ServiceContext, kind: str, path: str | os.PathLike[str]) -> int:
    """Write every stored record of ``kind`` to a CSV or XLSX file in the import columns; return the row count."""
    rows = _export_rows(ctx, kind)
    path = Path(path)
    _write_table(path, kind, rules.SPECS[kind].known, rows)
    logger.info("exported %d %s rows to %s", len(rows), kind, path)
    return len(rows)


def export_csv(ctx: ServiceContext, kind: str, out: TextIO) -> int:
    """The same rows as CSV text on ``out`` (plain UTF-8, no BOM: for a pipe); return the row count."""
    rows = _export_rows(ctx, kind)
    _write_csv(out, rules.SPECS[kind].known, rows)
    logger.info("exported %d %s rows to standard output", len(rows), kind)
    return len(rows)


def _export_rows(ctx: ServiceContext, kind: str) -> list[tuple[object, ...]]:
    if kind not in rules.SPECS:
        raise ValueError(f"unknown export kind {kind!r}; use one of {', '.join(KINDS)}")
    with ctx.engine.connect() as conn:
        return _EXPORT[kind](conn)
