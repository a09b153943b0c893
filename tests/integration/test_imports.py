"""Floor data imports and exports on a real SQLite file: every kind, every error, nothing half-written."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, time, timezone
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from kiosk.config import load_config
from kiosk.domain import imports as rules
from kiosk.services import imports
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker, upgrade
from kiosk.store.models import Badge, Door, Event, Point, RosterEntry, Seat, Shift, Staff, Zone

DATA = Path(__file__).resolve().parent.parent / "data" / "imports"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 on 2 March in Asia/Shanghai
TABLES = {"staff": Staff, "badges": Badge, "shifts": Shift, "zones": Zone, "seats": Seat, "roster": RosterEntry,
          "points": Point, "doors": Door}
FLOOR_FILES = [("staff", "staff.csv"), ("shifts", "shifts.csv"), ("seats", "seats.csv"), ("badges", "badges.csv"),
               ("roster", "roster.csv"), ("points", "points.csv"), ("doors", "doors.csv")]


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test (migrating each time is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "kiosk.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def ctx(tmp_path: Path, migrated_db: Path):
    """A service context on a fresh SQLite file, with the clock fixed at NOW."""
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(migrated_db, instance / "kiosk.db")
    engine = make_engine(f"sqlite:///{instance / 'kiosk.db'}")
    yield ServiceContext(config=load_config(instance, environ={}), engine=engine,
                         sessions=make_sessionmaker(engine), clock=lambda: NOW)
    engine.dispose()


@pytest.fixture
def floor(ctx: ServiceContext) -> ServiceContext:
    """The sample floor in tests/data/imports: 5 staff, 3 shifts, 3 seats in 2 zones, 5 badges, 5 roster lines,
    5 sensor points, 1 door."""
    for kind, name in FLOOR_FILES:
        result = imports.import_file(ctx, kind, DATA / name)
        assert result.errors == [], [str(e) for e in result.errors]
    return ctx


def put(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write a file as an office would, CRLF line ends and all."""
    path = tmp_path / name
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return path


def put_xlsx(tmp_path: Path, name: str, rows: list[list[object]]) -> Path:
    """An XLSX workbook whose first sheet holds ``rows`` as typed cells."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.create_sheet("ignored").append(["not", "read"])
    path = tmp_path / name
    wb.save(path)
    return path


def snapshot(ctx: ServiceContext) -> dict[str, list[tuple]]:
    """Every row of every floor data table, for "nothing changed" assertions."""
    with ctx.engine.connect() as conn:
        return {name: sorted(tuple(r) for r in conn.execute(select(model.__table__)))
                for name, model in TABLES.items()}


def counts(ctx: ServiceContext) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()
                for name, model in TABLES.items()}


def events(ctx: ServiceContext, kind: str | None = None) -> list:
    t = Event.__table__
    q = select(t).order_by(t.c.id)
    with ctx.engine.connect() as conn:
        return conn.execute(q if kind is None else q.where(t.c.kind == kind)).all()


def refused(ctx: ServiceContext, kind: str, path: Path) -> list[str]:
    """Import a bad file; check that nothing but the refusal was written; return the errors as text."""
    before, logged = snapshot(ctx), len(events(ctx))
    result = imports.import_file(ctx, kind, path, actor="tester")
    assert result.errors and not result.ok
    assert snapshot(ctx) == before
    new_events = events(ctx)[logged:]
    assert [(e.kind, e.actor, e.subject, e.outcome) for e in new_events] == [
        ("import_refused", "tester", kind, "refused")]
    assert json.loads(new_events[0].data) == {"file": path.name, "errors": len(result.errors)}
    assert result.summary() == f"{kind}: {result.rows} rows, {len(result.errors)} error(s); nothing written"
    return [str(e) for e in result.errors]


def staff_by_no(ctx: ServiceContext) -> dict[str, tuple]:
    t = Staff.__table__
    with ctx.engine.connect() as conn:
        return {r.employee_no: (r.name, r.role, r.post_level, r.skill_grade, r.active) for r in conn.execute(select(t))}


# --- good files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,encoding", [("staff.csv", "utf-8"), ("staff-bom.csv", "utf-8"),
                                           ("staff-gbk.csv", "gb18030")])
def test_staff_import_from_utf8_utf8_with_bom_and_gbk_csv_reads_the_chinese_names(ctx, name, encoding):
    result = imports.import_file(ctx, "staff", DATA / name)
    assert result.errors == [] and result.encoding == encoding
    assert result.summary() == "staff: 5 rows, 5 new, 0 changed, 0 unchanged"
    assert staff_by_no(ctx) == {
        "10001": ("王伟", "leader", "L2", "A", True), "10002": ("李娜", "operator", "L1", "B", True),
        "10003": ("张敏", "operator", "L1", "C", True), "10004": ("刘强", "supervisor", "L3", "A", True),
        "10005": ("陈静", "security", "", "", False)}


def test_excel_unicode_text_utf16_with_tabs_imports_too(ctx, tmp_path):
    path = put(tmp_path, "shifts.txt", "code\tname\tstart\tend\nN\t夜班\t23:00\t08:00\n", encoding="utf-16")
    result = imports.import_file(ctx, "shifts", path)
    assert result.errors == [] and result.encoding == "utf-16" and result.new == 1
    assert snapshot(ctx)["shifts"] == [("N", "夜班", "23:00", "08:00")]


def test_an_applied_import_logs_one_event_with_its_counts(ctx):
    imports.import_file(ctx, "staff", DATA / "staff.csv", actor="cli")
    logged = events(ctx)
    assert [(e.kind, e.actor, e.subject, e.outcome, e.at) for e in logged] == [
        ("import_applied", "cli", "staff", "ok", NOW)]
    assert json.loads(logged[0].data) == {"file": "staff.csv", "new": 5, "changed": 0, "removed": 0}


def test_the_sample_floor_imports_kind_by_kind(floor):
    assert counts(floor) == {"staff": 5, "badges": 5, "shifts": 3, "zones": 2, "seats": 3, "roster": 5,
                             "points": 5, "doors": 1}
    with floor.engine.connect() as conn:
        assert conn.execute(select(Zone.__table__)).all() == [("A", "A", 1), ("B", "B", 1)]  # on the only floor
        uids = conn.execute(select(Badge.__table__.c.uid).order_by(Badge.__table__.c.uid)).scalars().all()
        night = conn.execute(select(Shift.__table__).where(Shift.__table__.c.code == "N")).one()
    assert uids == ["04A1B2C3D401", "04A1B2C3D402", "04A1B2C3D403", "04A1B2C3D404", "04A1B2C3D405"]
    assert (night.start, night.end) == ("23:00", "08:00")  # a night shift crosses midnight


def test_an_xlsx_file_with_numeric_employee_numbers_and_date_and_time_cells_imports(ctx, tmp_path):
    staff = put_xlsx(tmp_path, "staff.xlsx", [
        [None],
        [" Employee_No", "NAME", "Role", "post_level", "skill_grade", "备注"],
        [10001, "王伟", "leader", "L2", "A", "extra columns are ignored"],
        [10002.0, "李娜", "operator", 1, "B", None],
    ])
    shifts = put_xlsx(tmp_path, "shifts.xlsx", [["code", "name", "start", "end"], ["N", "夜班", time(23, 0), time(8, 0)]])
    seats = put_xlsx(tmp_path, "seats.xlsx", [["seat", "zone", "x", "y"], ["A-01", "A", 60, 60.5]])
    badges = put_xlsx(tmp_path, "badges.xlsx", [["badge_uid", "employee_no", "status", "issued_on"],
                                                ["04a1b2", 10001, "active", datetime(2025, 3, 1)]])
    roster = put_xlsx(tmp_path, "roster.xlsx", [["date", "shift", "employee_no", "seat", "duty"],
                                                [datetime(2026, 3, 1), "N", 10001, None, "leader"],
                                                [date(2026, 3, 1), "N", 10002, "A-01", "operator"]])
    summaries = [imports.import_file(ctx, kind, path).summary()
                 for kind, path in [("staff", staff), ("shifts", shifts), ("seats", seats), ("badges", badges),
                                    ("roster", roster)]]
    assert summaries == ["staff: 2 rows, 2 new, 0 changed, 0 unchanged",
                         "shifts: 1 rows, 1 new, 0 changed, 0 unchanged",
                         "seats: 1 rows, 1 new, 0 changed, 0 unchanged, 1 new zone",
                         "badges: 1 rows, 1 new, 0 changed, 0 unchanged",
                         "roster: 2 rows, 2 new, 0 changed, 0 unchanged, 0 removed"]
    assert staff_by_no(ctx)["10002"] == ("李娜", "operator", "1", "B", True)
    snap = snapshot(ctx)
    assert [r[1:] for r in snap["badges"]] == [("04A1B2", 1, "active", date(2025, 3, 1), None)]
    assert [r[1:] for r in snap["roster"]] == [(date(2026, 3, 1), "N", 1, None, "leader", 1),  # the only floor
                                              (date(2026, 3, 1), "N", 2, "A-01", "operator", 1)]
    assert snap["shifts"] == [("N", "夜班", "23:00", "08:00")]


def test_a_dry_run_reports_what_would_change_and_writes_nothing(floor, tmp_path):
    before, logged = snapshot(floor), len(events(floor))
    path = put(tmp_path, "staff.csv", "employee_no,name,role,post_level,skill_grade\n"
                                      "10001,王伟,leader,L3,A\n10002,李娜,operator,L1,B\n10099,新人,operator,,\n")
    result = imports.import_file(floor, "staff", path, dry_run=True)
    assert result.summary() == "staff: 3 rows, 1 new, 1 changed, 1 unchanged (dry run: nothing written)"
    assert snapshot(floor) == before and len(events(floor)) == logged


def test_a_dry_run_of_a_bad_file_lists_the_errors_and_logs_nothing(floor, tmp_path):
    logged = len(events(floor))
    path = put(tmp_path, "staff.csv", "employee_no,name,role,post_level,skill_grade\n10001,王伟,boss,L3,A\n")
    result = imports.import_file(floor, "staff", path, dry_run=True)
    assert [str(e) for e in result.errors] == [
        "staff.csv:2:role: 'boss' is not a role; use one of operator, leader, supervisor, security, admin, management"]
    assert len(events(floor)) == logged


@pytest.mark.parametrize("kind,name", FLOOR_FILES)
def test_importing_the_same_file_again_changes_nothing(floor, kind, name):
    before = snapshot(floor)
    result = imports.import_file(floor, kind, DATA / name)
    assert (result.new, result.changed, result.removed, result.unchanged) == (0, 0, 0, result.rows)
    assert snapshot(floor) == before


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("kind", rules.KINDS)
def test_an_export_imported_again_changes_nothing(floor, tmp_path, kind, suffix):
    before = snapshot(floor)
    path = tmp_path / f"{kind}{suffix}"
    n = imports.export_file(floor, kind, path)
    assert n == counts(floor)[kind]
    result = imports.import_file(floor, kind, path)
    assert result.errors == []
    assert (result.rows, result.new, result.changed, result.removed) == (n, 0, 0, 0)
    assert snapshot(floor) == before


def test_a_csv_export_has_a_bom_and_the_import_columns(floor, tmp_path):
    path = tmp_path / "staff.csv"
    imports.export_file(floor, "staff", path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[:2] == ["employee_no,name,role,post_level,skill_grade,active",
                                                       "10001,王伟,leader,L2,A,yes"]


def test_a_roster_import_replaces_the_dates_and_shifts_it_names_and_only_those(floor, tmp_path):
    path = put(tmp_path, "roster.csv", "date,shift,employee_no,seat,duty\n"
                                       "2026-03-01,N,10001,,leader\n2026-03-01,N,10003,A-01,operator\n"
                                       "2026-03-01,N,10004,A-02,operator\n")
    result = imports.import_file(floor, "roster", path)
    assert result.summary() == "roster: 3 rows, 1 new, 1 changed, 1 unchanged, 1 removed"
    assert json.loads(events(floor, "import_applied")[-1].data) == {
        "file": "roster.csv", "new": 1, "changed": 1, "removed": 1}
    with floor.engine.connect() as conn:
        t, s = RosterEntry.__table__, Staff.__table__
        lines = conn.execute(select(t.c.day, t.c.shift_code, s.c.employee_no, t.c.seat_id, t.c.duty)
                             .join(s, s.c.id == t.c.staff_id).order_by(t.c.day, s.c.employee_no)).all()
    assert lines == [(date(2026, 3, 1), "N", "10001", None, "leader"),
                     (date(2026, 3, 1), "N", "10003", "A-01", "operator"),
                     (date(2026, 3, 1), "N", "10004", "A-02", "operator"),
                     (date(2026, 3, 2), "M", "10001", "A-01", "leader"),  # another shift: untouched
                     (date(2026, 3, 2), "M", "10002", "B-01", "operator")]


def test_a_badge_swap_in_one_file_revokes_the_old_badge_today_and_activates_the_new(floor, tmp_path):
    path = put(tmp_path, "badges.csv", "badge_uid,employee_no,status,issued_on\n"
                                       "04:A1:B2:C3:D4:99,10001,active,2026-03-02\n04A1B2C3D401,10001,lost,\n")
    result = imports.import_file(floor, "badges", path)
    assert result.summary() == "badges: 2 rows, 1 new, 1 changed, 0 unchanged"
    with floor.engine.connect() as conn:
        t = Badge.__table__
        mine = conn.execute(select(t.c.uid, t.c.status, t.c.issued_on, t.c.revoked_on)
                            .where(t.c.staff_id == 1).order_by(t.c.uid)).all()
    assert mine == [("04A1B2C3D401", "lost", date(2025, 3, 1), date(2026, 3, 2)),
                    ("04A1B2C3D499", "active", date(2026, 3, 2), None)]


def test_a_file_with_only_a_header_is_valid_and_changes_nothing(floor, tmp_path):
    before = snapshot(floor)
    result = imports.import_file(floor, "roster", put(tmp_path, "roster.csv", "date,shift,employee_no,seat,duty\n"))
    assert result.errors == []
    assert result.summary() == "roster: 0 rows, 0 new, 0 changed, 0 unchanged, 0 removed"
    assert snapshot(floor) == before


def test_a_month_of_roster_for_300_staff_imports_in_one_go_and_again_unchanged(ctx, tmp_path):
    staff = "employee_no,name,role,post_level,skill_grade\n" + "".join(
        f"{20000 + i},员工{i},{'leader' if i < 10 else 'operator'},L1,B\n" for i in range(300))
    seats = "seat,zone,x,y\n" + "".join(f"S-{i:03d},{'ABCD'[i % 4]},{i * 10},{i}\n" for i in range(300))
    roster = ["date,shift,employee_no,seat,duty"]
    for day in range(1, 31):
        for i in range(300):
            roster.append(f"2026-04-{day:02d},{'MEN'[i % 3]},{20000 + i},{'' if i < 10 else f'S-{i:03d}'},"
                          f"{'leader' if i < 10 else 'operator'}")
    for kind, text in [("staff", staff), ("shifts", (DATA / "shifts.csv").read_text()), ("seats", seats)]:
        assert imports.import_file(ctx, kind, put(tmp_path, f"{kind}.csv", text)).errors == []
    path = put(tmp_path, "roster.csv", "\n".join(roster) + "\n")
    assert imports.import_file(ctx, "roster", path).summary() == \
        "roster: 9000 rows, 9000 new, 0 changed, 0 unchanged, 0 removed"
    assert imports.import_file(ctx, "roster", path).summary() == \
        "roster: 9000 rows, 0 new, 0 changed, 9000 unchanged, 0 removed"


def test_the_cli_imports_and_reports_errors_on_stderr(ctx, tmp_path):
    from kiosk.cli import main

    instance = ctx.config["INSTANCE_PATH"]
    runner = CliRunner()
    ok = runner.invoke(main, ["--instance", instance, "import", "staff", str(DATA / "staff.csv"), "--dry-run"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "staff: 5 rows, 5 new, 0 changed, 0 unchanged (dry run: nothing written)"
    bad = put(tmp_path, "bad.csv", "employee_no,name\n")
    failed = runner.invoke(main, ["--instance", instance, "import", "staff", str(bad)])
    assert failed.exit_code == 1
    assert "bad.csv:1:role: missing required column role; found: employee_no, name" in failed.stderr
    out = tmp_path / "out.xlsx"
    exported = runner.invoke(main, ["--instance", instance, "export", "shifts", str(out)])
    assert exported.exit_code == 0 and exported.stdout.strip() == f"exported 0 shifts rows to {out}"


def test_export_to_dash_writes_csv_to_standard_output_and_the_count_to_standard_error(ctx, tmp_path):
    from kiosk.cli import main

    instance = ctx.config["INSTANCE_PATH"]
    runner = CliRunner()
    assert runner.invoke(main, ["--instance", instance, "import", "staff", str(DATA / "staff.csv")]).exit_code == 0
    exported = runner.invoke(main, ["--instance", instance, "export", "staff", "-"])
    assert exported.exit_code == 0, exported.output
    assert exported.stderr.strip() == "exported 5 staff rows to standard output"
    assert not exported.stdout.startswith("\ufeff")  # no BOM in a pipe
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("employee_no,name,role") and len(lines) == 6
    assert not (tmp_path / "-").exists() and not Path("-").exists()
    # What went out is an import file as it stands: taking it back changes nothing.
    again = tmp_path / "again.csv"
    again.write_text(exported.stdout, encoding="utf-8")
    assert imports.import_file(ctx, "staff", again).summary() == "staff: 5 rows, 0 new, 0 changed, 5 unchanged"


@pytest.mark.parametrize("where", [["import", "staff", "{csv}", "--instance", "{dir}", "--dry-run"],
                                   ["import", "staff", "{csv}", "--dry-run", "--instance={dir}"],
                                   ["import", "--instance", "{dir}", "staff", "{csv}", "--dry-run"]])
def test_the_instance_may_be_named_after_the_command_too(ctx, where):
    from kiosk.cli import main

    args = [a.format(csv=DATA / "staff.csv", dir=ctx.config["INSTANCE_PATH"]) for a in where]
    ran = CliRunner().invoke(main, args, env={"KIOSK_INSTANCE": ""})
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.strip() == "staff: 5 rows, 5 new, 0 changed, 0 unchanged (dry run: nothing written)"


def points_by_id(ctx: ServiceContext) -> dict[str, tuple]:
    t = Point.__table__
    with ctx.engine.connect() as conn:
        return {r.id: (r.kind, r.label, r.gateway_id, r.state, r.changed_at, r.reconciled)
                for r in conn.execute(select(t))}


def test_imported_points_start_unknown_with_their_kind_label_and_gateway(floor):
    assert points_by_id(floor) == {
        "door:main": ("door", "话务区正门", "floor-3", "unknown", None, False),
        "exit:main": ("exit_button", "出门按钮", "floor-3", "unknown", None, False),
        "cabinet:1": ("equipment", "机柜 1", "floor-3", "unknown", None, False),
        "seat:A-01": ("seat", "A-01 坐垫", "floor-3", "unknown", None, False),
        "seat:A-02": ("seat", "A-02 坐垫", None, "unknown", None, False)}
    assert json.loads(events(floor, "import_applied")[-2].data) == {  # the last is the doors file's
        "file": "points.csv", "new": 5, "changed": 0, "removed": 0}


def test_a_points_import_updates_definitions_and_never_touches_live_state_or_deletes(floor, tmp_path):
    seen = datetime(2026, 3, 2, 0, 59, tzinfo=timezone.utc)
    with floor.engine.begin() as conn:  # as a gateway's report would leave them
        conn.execute(update(Point.__table__).where(Point.__table__.c.id == "door:main")
                     .values(state="open", changed_at=seen, reconciled=True))
        conn.execute(update(Point.__table__).where(Point.__table__.c.id == "seat:A-02")
                     .values(state="occupied", changed_at=seen, gateway_id="floor-4"))
    path = put(tmp_path, "points.csv", "point,kind,label\n"
                                       "door:main,door,正门（东）\n"     # relabelled; gateway not given: kept
                                       "seat:A-02,seat,A-02 坐垫\n"      # unchanged, the gateway it reported from kept
                                       "door:fire,Door,消防门\n")        # new, kind in any case
    result = imports.import_file(floor, "points", path)
    assert result.summary() == "points: 3 rows, 1 new, 1 changed, 1 unchanged"
    points = points_by_id(floor)
    assert points["door:main"] == ("door", "正门（东）", "floor-3", "open", seen, True)
    assert points["seat:A-02"] == ("seat", "A-02 坐垫", "floor-4", "occupied", seen, False)
    assert points["door:fire"] == ("door", "消防门", None, "unknown", None, False)
    assert len(points) == 6  # the points the file does not name are still there
    assert [(e.kind, e.subject) for e in events(floor)[-1:]] == [("import_applied", "points")]


def test_a_gateway_given_in_the_file_moves_the_point_to_that_gateway(floor, tmp_path):
    path = put(tmp_path, "points.csv", "point,kind,label,gateway\nseat:A-02,seat,A-02 坐垫,floor-4\n")
    assert imports.import_file(floor, "points", path).summary() == "points: 1 rows, 0 new, 1 changed, 0 unchanged"
    assert points_by_id(floor)["seat:A-02"][2] == "floor-4"


def test_a_points_dry_run_writes_nothing(floor, tmp_path):
    before, logged = snapshot(floor), len(events(floor))
    path = put(tmp_path, "points.csv", "point,kind,label\ndoor:fire,door,消防门\ndoor:main,door,正门\n")
    result = imports.import_file(floor, "points", path, dry_run=True)
    assert result.summary() == "points: 2 rows, 1 new, 1 changed, 0 unchanged (dry run: nothing written)"
    assert snapshot(floor) == before and len(events(floor)) == logged


def test_a_points_csv_export_writes_the_seat_of_each_seat_point(floor, tmp_path):
    path = tmp_path / "points.csv"
    assert imports.export_file(floor, "points", path) == 5
    assert path.read_text(encoding="utf-8-sig").splitlines() == [
        "point,kind,label,gateway,seat,floor",
        "cabinet:1,equipment,机柜 1,floor-3,,1F",
        "door:main,door,话务区正门,floor-3,,1F",
        "exit:main,exit_button,出门按钮,floor-3,,1F",
        "seat:A-01,seat,A-01 坐垫,floor-3,A-01,1F",
        "seat:A-02,seat,A-02 坐垫,,A-02,1F"]


def test_the_cli_imports_and_exports_points(floor, tmp_path):
    from kiosk.cli import main

    instance = floor.config["INSTANCE_PATH"]
    runner = CliRunner()
    ok = runner.invoke(main, ["--instance", instance, "import", "points", str(DATA / "points.csv"), "--dry-run"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "points: 5 rows, 0 new, 0 changed, 5 unchanged (dry run: nothing written)"
    out = tmp_path / "points.xlsx"
    exported = runner.invoke(main, ["--instance", instance, "export", "points", str(out)])
    assert exported.exit_code == 0 and exported.stdout.strip() == f"exported 5 points rows to {out}"


def doors_by_id(ctx: ServiceContext) -> dict[str, tuple]:
    t = Door.__table__
    with ctx.engine.connect() as conn:
        return {r.id: (r.name, r.contact_point, r.exit_point, r.readers, r.prewarn_s, r.alarm_s, r.entry_window_s,
                       r.tailgate_s, r.x, r.y, r.state) for r in conn.execute(select(t))}


def add_point(ctx: ServiceContext, point: str, kind: str = "door") -> None:
    with ctx.engine.begin() as conn:
        conn.execute(Point.__table__.insert().values(id=point, kind=kind, label=point, state="unknown",
                                                     reconciled=False))


def test_a_doors_import_defines_the_door_with_its_readers_timings_and_place_on_the_plan(floor):
    assert doors_by_id(floor) == {"main": ("话务区正门", "door:main", "exit:main", "door-main", 20.0, 30.0, 10.0, 15.0,
                                           100.0, 240.0, "")}


def test_a_doors_import_keeps_what_a_row_leaves_out_and_never_touches_the_rule_state(floor, tmp_path):
    with floor.engine.begin() as conn:  # as the door rules would leave it
        conn.execute(update(Door.__table__).where(Door.__table__.c.id == "main").values(state='{"open": true}'))
    add_point(floor, "door:fire")
    path = put(tmp_path, "doors.csv", "door,name,contact_point,readers,alarm_s,x,y\n"
                                      "main,正门（东）,door:main,,45,,\n"  # renamed, alarm later; the rest kept
                                      "fire,消防门,door:fire,door-fire; door-fire-2,,,\n")  # new: defaults, not placed
    assert imports.import_file(floor, "doors", path).summary() == "doors: 2 rows, 1 new, 1 changed, 0 unchanged"
    doors = doors_by_id(floor)
    assert doors["main"] == ("正门（东）", "door:main", "exit:main", "door-main", 20.0, 45.0, 10.0, 15.0, 100.0, 240.0,
                             '{"open": true}')
    assert doors["fire"] == ("消防门", "door:fire", None, "door-fire,door-fire-2", 20.0, 30.0, 10.0, 15.0, None, None,
                             "")


def test_a_doors_csv_export_writes_every_column_and_leaves_an_unplaced_door_blank(floor, tmp_path):
    with floor.engine.begin() as conn:
        conn.execute(update(Door.__table__).values(x=None, y=None))
    path = tmp_path / "doors.csv"
    assert imports.export_file(floor, "doors", path) == 1
    assert path.read_text(encoding="utf-8-sig").splitlines() == [
        "door,name,contact_point,exit_point,readers,prewarn_s,alarm_s,entry_window_s,tailgate_s,x,y,floor",
        "main,话务区正门,door:main,exit:main,door-main,20,30,10,15,,,1F"]


def test_bad_door_rows_are_refused_and_no_door_is_written(floor, tmp_path):
    path = put(tmp_path, "doors.csv", "door,name,contact_point,exit_point,readers,prewarn_s,alarm_s,x,y\n"
                                      "side,侧门,door:side,,,,,,\n"            # unknown contact point
                                      "back,后门,exit:main,door:main,,,,,\n"   # kinds swapped
                                      "east,东门,door:main,,door-east,,,,\n"   # door:main is main's contact
                                      "west,西门,door:west,,door-main,,,,\n"   # unknown point
                                      "main door,正门,door:main,,,-5,0,12,\n"  # bad id and timings, x without y
                                      "main,正门,door:main,,,,,,\n"
                                      "main,again,door:main,,,,,,\n")          # repeated
    assert refused(floor, "doors", path) == [
        "doors.csv:2:contact_point: unknown point door:side: import it with `kiosk import points` first",
        "doors.csv:3:contact_point: point exit:main is an exit_button point, not a door point",
        "doors.csv:3:exit_point: point door:main is a door point, not an exit_button point",
        "doors.csv:4:contact_point: contact point door:main is door main's on row 7",
        "doors.csv:5:contact_point: unknown point door:west: import it with `kiosk import points` first",
        "doors.csv:6:door: 'main door' is not a door id; use 1 to 64 characters of A-Z a-z 0-9 _ . -",
        "doors.csv:6:prewarn_s: -5 is negative; give seconds, 0 or more",
        "doors.csv:6:alarm_s: the held-open alarm needs a time above 0 seconds",
        "doors.csv:6:y: give both x and y (the door's place on the plan), or neither",
        "doors.csv:8:door: door main is also on row 7"]


def test_a_badge_reader_stands_at_one_door_only(floor, tmp_path):
    add_point(floor, "door:fire")
    path = put(tmp_path, "doors.csv", "door,name,contact_point,readers\nfire,消防门,door:fire,door-main\n")
    assert refused(floor, "doors", path) == ["doors.csv:2:readers: reader door-main stands at door main"]


def test_the_cli_imports_and_exports_doors(floor, tmp_path):
    from kiosk.cli import main

    instance = floor.config["INSTANCE_PATH"]
    runner = CliRunner()
    ok = runner.invoke(main, ["--instance", instance, "import", "doors", str(DATA / "doors.csv"), "--dry-run"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "doors: 1 rows, 0 new, 0 changed, 1 unchanged (dry run: nothing written)"
    out = tmp_path / "doors.xlsx"
    exported = runner.invoke(main, ["--instance", instance, "export", "doors", str(out)])
    assert exported.exit_code == 0 and exported.stdout.strip() == f"exported 1 doors rows to {out}"


# --- bad files: every error names file, row, column ------------------------------------------------

def test_a_missing_column_is_refused_naming_it_and_the_columns_found(floor, tmp_path):
    path = put(tmp_path, "staff.csv", "employee_no,name,role,grade\n10001,王伟,leader,A\n")
    assert refused(floor, "staff", path) == [
        "staff.csv:1:post_level: missing required column post_level; found: employee_no, name, role, grade",
        "staff.csv:1:skill_grade: missing required column skill_grade; found: employee_no, name, role, grade"]


def test_bad_staff_rows_are_all_reported_and_the_good_ones_are_not_written(floor, tmp_path):
    path = put(tmp_path, "staff.csv", "employee_no,name,role,post_level,skill_grade,active\n"
                                      "10001,王伟,leader,L2,A,yes\n"
                                      "10099,新人,operator,L1,B,\n"
                                      ",无号,operator,,,\n"
                                      "10098,,boss,,,maybe\n"
                                      "10099,重复,operator,,,\n")
    assert refused(floor, "staff", path) == [
        "staff.csv:4:employee_no: a value is required",
        "staff.csv:5:name: a value is required",
        "staff.csv:5:role: 'boss' is not a role; use one of operator, leader, supervisor, security, admin, management",
        "staff.csv:5:active: 'maybe' is not yes or no; use yes, no, 1, 0, true, false, 在职 or 离职",
        "staff.csv:6:employee_no: employee 10099 is also on row 3"]


def test_bad_badge_rows_are_refused_with_the_reason_for_each(floor, tmp_path):
    path = put(tmp_path, "badges.csv", "badge_uid,employee_no,status,issued_on\n"
                                       "04FF01,10099,active,\n"            # unknown employee
                                       "04:a1:b2:c3:d4:02,10003,active,\n"  # 10002's badge
                                       "04EE01,10004,lost,\n"
                                       "04-ee-01,10004,lost,\n"             # the same UID again
                                       "04EE02,10001,active,\n"            # 10001 still holds an active one
                                       "04EE03,10005,active,\n"
                                       "04EE04,10005,active,\n"            # two active in the file
                                       "04EE05,10005,broken,2025-02-30\n"
                                       "xyz,10005,,\n")
    assert refused(floor, "badges", path) == [
        "badges.csv:2:employee_no: unknown employee 10099",
        "badges.csv:3:badge_uid: badge UID 04A1B2C3D402 belongs to employee 10002",
        "badges.csv:5:badge_uid: badge UID 04EE01 is also on row 4",
        "badges.csv:6:status: employee 10001 already has active badge 04A1B2C3D401; "
        "mark it lost, revoked or returned first (a line in this file will do)",
        "badges.csv:8:status: employee 10005 already has an active badge on row 7; only one may be active",
        "badges.csv:9:status: 'broken' is not a badge status; use one of active, lost, revoked, returned",
        "badges.csv:9:issued_on: '2025-02-30' is not a date as YYYY-MM-DD",
        "badges.csv:10:badge_uid: badge UID 'xyz' is not hexadecimal"]


def test_bad_shift_times_are_refused_but_a_night_shift_is_not(floor, tmp_path):
    path = put(tmp_path, "shifts.csv", "code,name,start,end\n"
                                       "N2,夜班二,22:00,06:00\n"
                                       "X,坏,25:00,8h\n"
                                       "Z,零,08:00,08:00\n"
                                       "N2,again,22:00,06:00\n")
    assert refused(floor, "shifts", path) == [
        "shifts.csv:3:start: '25:00' is not a time of day (00:00 to 23:59)",
        "shifts.csv:3:end: '8h' is not a time as HH:MM",
        "shifts.csv:4:end: a shift cannot last 0 or 24 hours",
        "shifts.csv:5:code: shift N2 is also on row 2"]


def test_bad_seat_rows_are_refused(floor, tmp_path):
    path = put(tmp_path, "seats.csv", "seat,zone,x,y\nC-01,C,sixty,1\nC-02,C,1,\nC-01,C,1,1\n")
    assert refused(floor, "seats", path) == [
        "seats.csv:2:x: 'sixty' is not a number",
        "seats.csv:3:y: a value is required",
        "seats.csv:4:seat: seat C-01 is also on row 2"]


def test_bad_roster_rows_are_refused_and_the_roster_is_left_as_it_was(floor, tmp_path):
    path = put(tmp_path, "roster.csv", "date,shift,employee_no,seat,duty\n"
                                       "2026-03-01,N,10001,,leader\n"
                                       "2026-03-01,N,10002,Z-99,operator\n"   # unknown seat
                                       "2026-03-01,Q,10003,A-01,operator\n"   # unknown shift
                                       "2026-03-01,N,10099,A-02,operator\n"   # unknown employee
                                       "2026-03-01,N,10001,A-02,operator\n"   # 10001 twice
                                       "2026/03/01,N,10004,A-01,operator\n"   # invalid date
                                       "2026-03-01,N,10004,A-01,boss\n"       # invalid duty
                                       "2026-03-01,N,,A-01,operator\n"        # empty employee_no
                                       "2026-03-01,N,10005,,operator\n"       # operator without seat
                                       "2026-03-02,M,10003,A-01,operator\n"
                                       "2026-03-02,M,10004,A-01,operator\n")  # seat taken
    assert refused(floor, "roster", path) == [
        "roster.csv:3:seat: unknown seat Z-99",
        "roster.csv:4:shift: unknown shift Q",
        "roster.csv:5:employee_no: unknown employee 10099",
        "roster.csv:6:employee_no: employee 10001 is rostered twice on 2026-03-01 shift N (also on row 2)",
        "roster.csv:7:date: '2026/03/01' is not a date as YYYY-MM-DD",
        "roster.csv:8:duty: 'boss' is not a duty; use leader or operator",
        "roster.csv:9:employee_no: a value is required",
        "roster.csv:10:seat: an operator needs a seat; only a leader may have none",
        "roster.csv:12:seat: seat A-01 is also given to employee 10003 on row 11 (2026-03-02 shift M)"]


def test_bad_point_rows_are_refused_and_no_point_is_written(floor, tmp_path):
    path = put(tmp_path, "points.csv", "point,kind,label,gateway,seat\n"
                                       "door:side,door,侧门,floor-3,\n"        # good, but not written
                                       "door main,door,正门,,\n"               # a space in the id
                                       "door:main,seat,正门,,\n"               # seat point not named seat:
                                       "exit:main,door,出门按钮,,\n"           # kind change
                                       "seat:A-01,seat,,,A-02\n"              # seat column disagrees
                                       "seat:Z-99,seat,,,\n"                  # unknown seat
                                       "cabinet:2,equipment,机柜,floor 3,A-01\n"  # bad gateway, seat on equipment
                                       "fan:1,fan,风扇,,\n"                    # unknown kind
                                       "door:side,door,again,,\n")             # repeated
    assert refused(floor, "points", path) == [
        "points.csv:3:point: 'door main' is not a point id; use 1 to 64 characters of A-Z a-z 0-9 : _ . -",
        "points.csv:4:point: a seat point is named after its seat: use seat:<seat id>, not door:main",
        "points.csv:5:kind: point exit:main is an exit_button point and cannot become a door point, because its "
        "recorded history is of exit_button states; define the door point under another id",
        "points.csv:6:seat: seat A-02 does not match point seat:A-01; a seat point is named seat:<its seat id>",
        "points.csv:7:point: unknown seat Z-99: a seat point needs its seat imported first",
        "points.csv:8:gateway: 'floor 3' is not a gateway id; use 1 to 64 characters of A-Z a-z 0-9 _ . -",
        "points.csv:8:seat: only a seat point belongs to a seat; leave seat empty for an equipment point",
        "points.csv:9:kind: 'fan' is not a point kind; use one of door, exit_button, seat, equipment",
        "points.csv:10:point: point door:side is also on row 2"]


def test_a_points_file_without_the_label_column_is_refused(floor, tmp_path):
    assert refused(floor, "points", put(tmp_path, "points.csv", "point,kind\ndoor:side,door\n")) == [
        "points.csv:1:label: missing required column label; found: point, kind"]


def test_one_bad_row_at_the_end_of_a_long_file_stops_the_whole_file(floor, tmp_path):
    good = "".join(f"{30000 + i},员工{i},operator,L1,B\n" for i in range(200))
    path = put(tmp_path, "staff.csv", "employee_no,name,role,post_level,skill_grade\n" + good + "30999,坏,boss,,\n")
    assert refused(floor, "staff", path) == [
        "staff.csv:202:role: 'boss' is not a role; use one of operator, leader, supervisor, security, admin, management"]


def test_a_bad_xlsx_row_is_numbered_as_excel_shows_it(floor, tmp_path):
    path = put_xlsx(tmp_path, "roster.xlsx", [[], ["date", "shift", "employee_no", "seat", "duty"], [],
                                              ["2026-03-05", "N", 10077, "A-01", "operator"]])
    assert refused(floor, "roster", path) == ["roster.xlsx:4:employee_no: unknown employee 10077"]


# --- files that cannot be read --------------------------------------------------------------------

def test_an_empty_file_is_refused(floor, tmp_path):
    assert refused(floor, "seats", put(tmp_path, "seats.csv", "")) == [
        "seats.csv:1:-: the file is empty; its first row must name the columns seat, zone, x, y"]


def test_a_file_of_blank_lines_is_empty_too(floor, tmp_path):
    assert refused(floor, "seats", put(tmp_path, "seats.csv", "\n  \n,,,\n")) == [
        "seats.csv:1:-: the file is empty; its first row must name the columns seat, zone, x, y"]


def test_a_binary_file_is_refused_as_not_text(floor, tmp_path):
    path = tmp_path / "staff.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    assert refused(floor, "staff", path) == [
        "staff.csv:1:-: this is not a text file (it holds NUL bytes); save it as CSV UTF-8 or XLSX"]


def test_a_file_neither_utf8_nor_gbk_is_refused_naming_the_line(floor, tmp_path):
    path = tmp_path / "staff.csv"
    path.write_bytes(b"employee_no,name,role,post_level,skill_grade\r\n"
                     b"10001,ok,leader,,\r\n10002,\xff\xfe,operator,,\r\n")
    assert refused(floor, "staff", path) == [
        "staff.csv:3:-: cannot decode line 3: the file is neither UTF-8 nor GBK (GB18030) text; "
        "save it as CSV UTF-8 or XLSX"]


def test_a_utf8_file_with_one_broken_character_is_not_misread_as_gbk(floor, tmp_path):
    path = tmp_path / "staff.csv"
    path.write_bytes("employee_no,name,role,post_level,skill_grade\n10001,王伟,leader,,\n10002,李娜,operator,,\n"
                     .encode() + b"10003,\xe5\xbc,operator,,\n")
    assert refused(floor, "staff", path) == [
        "staff.csv:4:-: line 4 is not valid UTF-8 (the rest of the file is); "
        "fix or retype that line, or save the file again as CSV UTF-8"]


def test_an_old_xls_workbook_is_refused_with_what_to_do(floor, tmp_path):
    path = tmp_path / "staff.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    assert refused(floor, "staff", path) == [
        "staff.xls:1:-: this is an old Excel .xls workbook; save it as .xlsx or CSV UTF-8"]


def test_a_damaged_xlsx_workbook_is_refused(floor, tmp_path):
    path = tmp_path / "staff.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    errors = refused(floor, "staff", path)
    assert len(errors) == 1 and errors[0].startswith("staff.xlsx:1:-: cannot open the file as an XLSX workbook: ")


def test_a_workbook_saved_under_a_csv_name_is_read_as_the_workbook_it_is(ctx, tmp_path):
    xlsx = put_xlsx(tmp_path, "shifts.xlsx", [["code", "name", "start", "end"], ["N", "夜班", "23:00", "08:00"]])
    path = xlsx.rename(tmp_path / "shifts.csv")
    result = imports.import_file(ctx, "shifts", path)
    assert result.errors == [] and result.encoding == "xlsx" and result.new == 1


def test_an_unknown_kind_is_a_programming_error(ctx):
    with pytest.raises(ValueError, match="unknown import kind 'visitors'"):
        imports.import_file(ctx, "visitors", DATA / "staff.csv")


# --- several floors --------------------------------------------------------------------------------------------

@pytest.fixture
def two_floors(floor):
    """The sample floor (all on 1F) and an empty 4F."""
    from kiosk.services import floors

    floors.add(floor, "4F", "四层", "4th floor")
    return floor


def zone_floors(ctx: ServiceContext) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {r.id: r.floor_id for r in conn.execute(select(Zone.__table__))}


def test_with_several_floors_a_seat_needs_a_floor_unless_its_zone_has_one(two_floors, tmp_path):
    path = put(tmp_path, "seats.csv", "seat,zone,x,y,floor\n"
                                      "A-09,A,200,60,\n"      # zone A is on 1F: so is the seat
                                      "C-01,C,60,300,\n"      # a new zone: which floor?
                                      "A-10,A,220,60,4F\n"    # zone A is on 1F, not 4F
                                      "D-01,D,60,400,9F\n"    # no such floor
                                      "E-01,E,60,500,4F\n"    # a new zone on 4F
                                      "E-02,E,80,500,\n")     # and its second seat
    assert refused(two_floors, "seats", path) == [
        "seats.csv:3:floor: the centre has 2 floors (1F, 4F): say which one this is on",
        "seats.csv:4:floor: zone A is on floor 1F, not 4F",
        "seats.csv:5:floor: unknown floor 9F; the floors are 1F, 4F (add one with `kiosk floor add`)"]
    good = put(tmp_path, "seats2.csv", "seat,zone,x,y,floor\nA-09,A,200,60,\nE-01,E,60,500,4F\nE-02,E,80,500,\n")
    assert imports.import_file(two_floors, "seats", good).summary() == \
        "seats: 3 rows, 3 new, 0 changed, 0 unchanged, 1 new zone"
    assert zone_floors(two_floors) == {"A": 1, "B": 1, "E": 2}


def test_with_several_floors_a_roster_line_takes_its_seats_floor_and_a_leader_needs_one(two_floors, tmp_path):
    imports.import_file(two_floors, "seats", put(tmp_path, "seats.csv", "seat,zone,x,y,floor\nE-01,E,60,500,4F\n"))
    path = put(tmp_path, "roster.csv", "date,shift,employee_no,seat,duty,floor\n"
                                       "2026-03-03,M,10001,,leader,\n"          # a leader with no seat: which floor?
                                       "2026-03-03,M,10002,E-01,operator,1F\n"  # E-01 is on 4F
                                       "2026-03-03,M,10003,A-01,operator,\n")   # 1F
    assert refused(two_floors, "roster", path) == [
        "roster.csv:2:floor: the centre has 2 floors (1F, 4F): say which one this is on",
        "roster.csv:3:floor: seat E-01 is on floor 4F, not 1F"]
    good = put(tmp_path, "roster2.csv", "date,shift,employee_no,seat,duty,floor\n"
                                        "2026-03-03,M,10001,,leader,4F\n"
                                        "2026-03-03,M,10002,E-01,operator,\n"
                                        "2026-03-03,M,10003,A-01,operator,\n")
    assert imports.import_file(two_floors, "roster", good).errors == []
    with two_floors.engine.connect() as conn:
        placed = dict(conn.execute(select(Staff.__table__.c.employee_no, RosterEntry.__table__.c.floor_id)
                                   .join(RosterEntry.__table__, RosterEntry.__table__.c.staff_id == Staff.__table__.c.id)
                                   .where(RosterEntry.__table__.c.day == date(2026, 3, 3))).all())
    assert placed == {"10001": 2, "10002": 2, "10003": 1}
    # The export names each line's floor, and imports again unchanged.
    out = tmp_path / "roster-out.csv"
    imports.export_file(two_floors, "roster", out)
    assert "2026-03-03,M,10001,,leader,4F" in out.read_text(encoding="utf-8-sig")
    again = imports.import_file(two_floors, "roster", out)
    assert (again.new, again.changed, again.removed) == (0, 0, 0)


def test_with_several_floors_points_and_doors_take_the_floor_of_what_they_are_wired_to(two_floors, tmp_path):
    imports.import_file(two_floors, "seats", put(tmp_path, "seats.csv", "seat,zone,x,y,floor\nE-01,E,60,500,4F\n"))
    bad = put(tmp_path, "points.csv", "point,kind,label,gateway,seat,floor\n"
                                      "door:north,door,北门,floor-4,,\n"    # a new door contact: which floor?
                                      "seat:E-01,seat,E-01 坐垫,,E-01,1F\n")  # E-01 is on 4F
    assert refused(two_floors, "points", bad) == [
        "points.csv:2:floor: the centre has 2 floors (1F, 4F): say which one this is on",
        "points.csv:3:floor: seat E-01 is on floor 4F, not 1F"]
    good = put(tmp_path, "points2.csv", "point,kind,label,gateway,seat,floor\n"
                                        "door:north,door,北门,floor-4,,4F\n"
                                        "seat:E-01,seat,E-01 坐垫,,E-01,\n"
                                        "door:main,door,话务区正门,floor-3,,\n")  # existing: keeps 1F
    assert imports.import_file(two_floors, "points", good).errors == []
    doors_file = put(tmp_path, "doors.csv", "door,name,contact_point,floor\n"
                                            "north,四层北门,door:north,\n"   # its contact is on 4F
                                            "side,侧门,door:main,4F\n")      # door:main is on 1F
    errors = refused(two_floors, "doors", doors_file)
    assert errors[0] == "doors.csv:3:floor: contact point door:main is on floor 1F, not 4F"
    ok = put(tmp_path, "doors2.csv", "door,name,contact_point,floor\nnorth,四层北门,door:north,\n")
    assert imports.import_file(two_floors, "doors", ok).errors == []
    with two_floors.engine.connect() as conn:
        assert conn.execute(select(Door.__table__.c.floor_id).where(Door.__table__.c.id == "north")).scalar() == 2
        assert dict(conn.execute(select(Point.__table__.c.id, Point.__table__.c.floor_id)).all()) == {
            "door:main": 1, "exit:main": 1, "cabinet:1": 1, "seat:A-01": 1, "seat:A-02": 1, "door:north": 2,
            "seat:E-01": 2}


def test_the_cli_adds_a_floor_and_pairs_a_screen_to_it(floor, tmp_path):
    from kiosk.cli import main

    instance = floor.config["INSTANCE_PATH"]
    runner = CliRunner()
    added = runner.invoke(main, ["--instance", instance, "floor", "add", "4F", "--name-zh", "四层", "--name-en",
                                 "4th floor"])
    assert added.exit_code == 0 and added.stdout.strip() == "floor 4F added: 四层 / 4th floor"
    listed = runner.invoke(main, ["--instance", instance, "floor", "list"])
    assert listed.stdout.splitlines() == ["1F\t1 层\tFloor 1\t0", "4F\t四层\t4th floor\t1"]
    renamed = runner.invoke(main, ["--instance", instance, "floor", "edit", "1F", "--code", "3F", "--name-zh", "三层",
                                   "--name-en", "3rd floor"])
    assert renamed.exit_code == 0 and renamed.stdout.strip() == "floor 3F: 三层 / 3rd floor"
    with floor.engine.begin() as conn:
        conn.execute(Staff.__table__.insert().values(employee_no="30002", name="管理员", role="admin", active=True))
    refused_pair = runner.invoke(main, ["--instance", instance, "screen", "pair", "wall-4", "--by", "30002"])
    assert refused_pair.exit_code == 1 and "give --floor CODE" in refused_pair.output
    paired = runner.invoke(main, ["--instance", instance, "screen", "pair", "wall-4", "--by", "30002",
                                  "--floor", "4F"])
    assert paired.exit_code == 0 and "/pair?code=" in paired.stdout
    listed = runner.invoke(main, ["--instance", instance, "screen", "list"])
    assert "wall-4\tpending\tfloor 4F" in listed.stdout
